//! The thin async loop around the POP3 client grammar: connect (implicit TLS or STLS through
//! [`crate::driver::tls::connector`]), send commands, read status lines, listings and message data, each
//! read bounded in size and time.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::proto::{parse_status, Data, Status, MAX_DATA_LINE, MAX_STATUS_LINE};
use super::CollectError;
use crate::dns::{self, DnsError};
use crate::driver::net::Io;

/// Lines of a CAPA, UIDL or LIST answer read at most.
pub const MAX_LISTING: usize = 1_000_000;

/// One connection to a POP3 server.
pub struct Client {
    io: BufReader<Box<dyn Io>>,
    timeout: Duration,
    pub peer: Option<SocketAddr>,
    pub tls: bool,
}

impl Client {
    /// Connect to `host:port`, its addresses found by the one resolver (`[dns]`), each tried in
    /// turn; nothing is read yet.
    pub async fn connect(
        resolver: &Result<TokioResolver, DnsError>,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Client, CollectError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses = match (host.parse::<IpAddr>(), resolver) {
            (Ok(ip), _) => Ok(vec![ip]),
            (Err(_), Ok(r)) => tokio::time::timeout(timeout, dns::addresses(r, host))
                .await
                .unwrap_or_else(|_| Err(DnsError::Temporary("timed out".into()))),
            (Err(_), Err(e)) => Err(e.clone()),
        }
        .map_err(|e| CollectError::Dns {
            server: host.to_string(),
            reason: e.to_string(),
        })?;
        let mut last = String::from("no address");
        for ip in addresses {
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    let peer = tcp.peer_addr().ok();
                    let io: Box<dyn Io> = Box::new(tcp);
                    return Ok(Client {
                        io: BufReader::new(io),
                        timeout,
                        peer,
                        tls: false,
                    });
                }
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: timed out"),
            }
        }
        Err(CollectError::Connect {
            server: format!("{host}:{port}"),
            reason: last,
        })
    }

    /// Start TLS on the connection (implicit TLS at once, or after `+OK` to STLS). Anything
    /// buffered from before is dropped (RFC 2595 §4).
    pub async fn start_tls(
        self,
        connector: &crate::driver::tls::Connector,
        host: &str,
    ) -> Result<Client, CollectError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let inner = self.io.into_inner();
        let tls = tokio::time::timeout(self.timeout, connector.connect(host, inner))
            .await
            .map_err(|_| CollectError::Timeout)?
            .map_err(|e| CollectError::Tls(e.to_string()))?;
        let io: Box<dyn Io> = Box::new(tls);
        Ok(Client {
            io: BufReader::new(io),
            timeout: self.timeout,
            peer: self.peer,
            tls: true,
        })
    }

    /// One line without its line end, at most `max` octets (`Ok(None)` when longer: the rest of
    /// the line is read and dropped).
    async fn line(&mut self, max: usize) -> Result<Option<Vec<u8>>, CollectError> {
        let mut buf = Vec::new();
        let mut limited = (&mut self.io).take(max as u64 + 2);
        let n = tokio::time::timeout(self.timeout, limited.read_until(b'\n', &mut buf))
            .await
            .map_err(|_| CollectError::Timeout)??;
        if n == 0 {
            return Err(CollectError::Dropped);
        }
        if !buf.ends_with(b"\n") {
            if n < max + 2 {
                return Err(CollectError::Dropped);
            }
            // Over-long: skip to the end of the line, bounded by the read timeout.
            loop {
                buf.clear();
                let mut chunk = (&mut self.io).take(64 * 1024);
                let n = tokio::time::timeout(self.timeout, chunk.read_until(b'\n', &mut buf))
                    .await
                    .map_err(|_| CollectError::Timeout)??;
                if n == 0 {
                    return Err(CollectError::Dropped);
                }
                if buf.ends_with(b"\n") {
                    return Ok(None);
                }
            }
        }
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(buf))
    }

    /// A status line.
    pub async fn status(&mut self) -> Result<Status, CollectError> {
        match self.line(MAX_STATUS_LINE).await? {
            Some(l) => Ok(parse_status(&l)?),
            None => Err(CollectError::LineTooLong),
        }
    }

    /// Send one command line.
    pub async fn send(&mut self, command: &str) -> Result<(), CollectError> {
        let mut line = Vec::with_capacity(command.len() + 2);
        line.extend_from_slice(command.as_bytes());
        line.extend_from_slice(b"\r\n");
        let io = self.io.get_mut();
        tokio::time::timeout(self.timeout, async {
            io.write_all(&line).await?;
            io.flush().await
        })
        .await
        .map_err(|_| CollectError::Timeout)??;
        Ok(())
    }

    /// Send a command and read its status line.
    pub async fn command(&mut self, command: &str) -> Result<Status, CollectError> {
        self.send(command).await?;
        self.status().await
    }

    /// Send a command that must succeed; `what` names it in the error (never the password).
    pub async fn ok(&mut self, command: &str, what: &str) -> Result<String, CollectError> {
        match self.command(command).await? {
            Status::Ok(text) => Ok(text),
            Status::Err(text) | Status::Continue(text) => Err(CollectError::Refused {
                command: what.to_string(),
                text,
            }),
        }
    }

    /// The lines of a multi-line listing (CAPA, UIDL, LIST) after its `+OK`.
    pub async fn listing(&mut self) -> Result<Vec<Vec<u8>>, CollectError> {
        let mut out = Vec::new();
        loop {
            let line = self
                .line(MAX_STATUS_LINE)
                .await?
                .ok_or(CollectError::LineTooLong)?;
            if line == b"." {
                return Ok(out);
            }
            if out.len() >= MAX_LISTING {
                return Err(CollectError::LineTooLong);
            }
            let line = match line.strip_prefix(b".") {
                Some(rest) => rest.to_vec(),
                None => line,
            };
            out.push(line);
        }
    }

    /// The data of a RETR after its `+OK`, keeping at most `limit` octets.
    pub async fn data(&mut self, limit: u64) -> Result<Data, CollectError> {
        let mut data = Data::new(limit);
        loop {
            match self.line(MAX_DATA_LINE).await? {
                Some(line) => {
                    if data.line(&line) {
                        return Ok(data);
                    }
                }
                None => data.overlong_line(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::dns::DnsError;

    /// Resolver errors say what went wrong, with no SMTP status code (that is remote
    /// delivery's business).
    #[test]
    fn resolver_errors_carry_no_smtp_status_code() {
        assert_eq!(
            DnsError::NoAddress("a.test".into()).to_string(),
            "host a.test has no address"
        );
        assert_eq!(
            DnsError::Temporary("timed out".into()).to_string(),
            "timed out"
        );
    }
}
