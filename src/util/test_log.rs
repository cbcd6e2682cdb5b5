//! What tests read of the logs.

/// tracing caches each callsite's interest once for the whole process, asked of the
/// subscriber of the thread that reaches it first: a test that runs a line with no
/// subscriber would switch that line off for a test that reads the logs. A global
/// subscriber that takes every level and writes nothing makes every callsite interested;
/// each test's own subscriber still filters for itself.
fn every_callsite_interested() {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let sink = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(std::io::sink)
            .finish();
        let _ = tracing::subscriber::set_global_default(sink);
    });
}

/// The log lines written while `f` runs, every level.
pub(crate) fn logged(f: impl FnOnce()) -> String {
    every_callsite_interested();
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // Lines switched off before the global subscriber was set are asked again.
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}
