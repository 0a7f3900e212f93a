//! What a spawned process says on its standard output. `serve`, `smsc-sim`
//! (and chromedriver) bind port 0 when asked and print where they listen,
//! so a caller that starts one — `kurier bench`, the tests — reads the
//! address instead of picking a port in advance, which a process alongside
//! could take first.

use std::io::{self, BufRead as _, Read as _};
use std::thread::JoinHandle;

/// What a spawned process said.
pub struct Said {
    /// The first word after each label, in the order of the labels.
    pub words: Vec<String>,
    /// Everything it printed, once its standard output closes.
    pub all: JoinHandle<String>,
}

/// Reads `out`, a spawned process's standard output, until it has printed
/// a line beginning with each of `labels`, then reads on, on a thread of
/// its own, so that a later line never meets a closed pipe. An error when
/// the output ends first, with what it did print.
pub fn said(out: impl io::Read + Send + 'static, labels: &[&str]) -> io::Result<Said> {
    let mut reader = io::BufReader::new(out);
    let mut all = String::new();
    let mut words: Vec<Option<String>> = vec![None; labels.len()];
    while words.iter().any(Option::is_none) {
        let start = all.len();
        if reader.read_line(&mut all)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("it stopped before saying {labels:?}; it said: {all}"),
            ));
        }
        let line = all[start..].trim();
        for (label, word) in labels.iter().zip(&mut words) {
            if let Some(rest) = line.strip_prefix(label) {
                *word = rest.split_whitespace().next().map(str::to_owned);
            }
        }
    }
    let all = std::thread::spawn(move || {
        let _ = reader.read_to_string(&mut all);
        all
    });
    Ok(Said { words: words.into_iter().flatten().collect(), all })
}

/// The port that ends an address, a URL or a sentence
/// (`http://127.0.0.1:8080`, `8080.` → 8080).
pub fn port_of(word: &str) -> Option<u16> {
    word.rsplit(':').next().unwrap_or(word).trim_end_matches('.').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_after_each_label_and_the_rest_later() {
        let out = "starting\nControl API: http://127.0.0.1:41000\nSMSC simulator: smpp://127.0.0.1:2775 (2 binds)\nbye\n";
        let said = said(io::Cursor::new(out), &["SMSC simulator:", "Control API:"]).unwrap();
        assert_eq!(said.words, ["smpp://127.0.0.1:2775", "http://127.0.0.1:41000"]);
        assert!(said.all.join().unwrap().ends_with("bye\n"));
        assert_eq!(port_of(&said.words[0]), Some(2775));
        assert_eq!(port_of("started successfully on port 9515."), None, "a sentence without a colon");
        assert_eq!(port_of("9515."), Some(9515));
    }

    #[test]
    fn output_that_ends_before_a_label_is_an_error_quoting_it() {
        let err = said(io::Cursor::new("cannot listen: address in use\n"), &["Kurier listening on"])
            .err()
            .expect("an error");
        assert!(err.to_string().contains("cannot listen: address in use"), "{err}");
    }
}
