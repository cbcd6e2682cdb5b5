//! Addresses for "nothing answers here".

use std::net::SocketAddr;

use tokio::net::TcpSocket;

/// A local port that refuses every connection and stays so for as long as this value lives.
///
/// A port freed by dropping a listener can be handed to the next test that asks for a free
/// one, and then answers (a 404, say) where the test expected a refusal. A socket that is
/// bound but never listens keeps the port out of reach of every other bind while the kernel
/// answers each connection attempt with a reset.
pub struct ClosedPort {
    socket: TcpSocket,
}

impl ClosedPort {
    pub fn new() -> Self {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        Self { socket }
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("a bound socket").port()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}
