//! A datagram socket standing in for `/dev/log`: mfad sends its RFC 3164 lines here.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Receives datagrams on a thread and keeps every line.
pub(crate) struct SyslogSink {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SyslogSink {
    /// Binds `path` and starts reading.
    pub(crate) fn bind(path: &Path) -> Self {
        let sock =
            UnixDatagram::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n])
                        .trim_end_matches(['\n', '\0'])
                        .to_string();
                    l.lock().expect("syslog lines").push(text);
                }
            }
        });
        SyslogSink {
            lines,
            stop,
            thread: Some(thread),
        }
    }

    /// Every line received so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("syslog lines").clone()
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
