//! Text encodings of CSV files: detection and decoding.
//!
//! A byte-order mark decides (UTF-8, UTF-16). Otherwise the whole file is
//! watched as it streams past ([`EncodingStats`], a few kilobytes whatever
//! the file's size): valid UTF-8 wins; a file that is mostly UTF-8 with a
//! few broken bytes stays UTF-8 and its broken rows are reported; anything
//! else is read as the Central and Eastern European single-byte encoding
//! (Windows-1250, Windows-1251, ISO-8859-2) whose letters fit best — which
//! letters the high bytes become, in which company (a Cyrillic letter
//! between Latin ones, or a symbol inside a word, is a sign of the wrong
//! choice).

use std::io::{self, Read};

use encoding_rs::{Decoder, Encoding, ISO_8859_2, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1250, WINDOWS_1251};

/// How a CSV file's bytes become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    /// Transcoded to UTF-8 before parsing.
    Utf16(&'static Encoding),
    /// An ASCII-compatible single-byte encoding.
    SingleByte(&'static Encoding),
}

impl TextEncoding {
    /// The WHATWG name, e.g. `UTF-8`, `windows-1250`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => UTF_8.name(),
            Self::Utf16(e) | Self::SingleByte(e) => e.name(),
        }
    }

    /// An encoding a user named (`utf-8`, `cp1250`, `windows-1251`,
    /// `iso-8859-2`, `latin2`, `utf-16le`...). Multi-byte encodings other
    /// than UTF-8 and UTF-16 are refused: their bytes can look like
    /// delimiters.
    pub fn from_label(label: &str) -> Option<Self> {
        let label = label.trim().to_ascii_lowercase();
        let label = match label.as_str() {
            "cp1250" => "windows-1250",
            "cp1251" => "windows-1251",
            "utf8" => "utf-8",
            other => other,
        };
        let e = Encoding::for_label(label.as_bytes())?;
        if e == UTF_8 {
            Some(Self::Utf8)
        } else if e == UTF_16LE || e == UTF_16BE {
            Some(Self::Utf16(e))
        } else if e.is_single_byte() {
            Some(Self::SingleByte(e))
        } else {
            None
        }
    }

    /// Decodes one field. UTF-8 must be valid; single-byte encodings map
    /// every byte.
    pub fn decode(self, bytes: &[u8]) -> Result<String, InvalidText> {
        match self {
            Self::Utf8 | Self::Utf16(_) => {
                std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| InvalidText)
            }
            Self::SingleByte(e) => Ok(e.decode_without_bom_handling(bytes).0.into_owned()),
        }
    }
}

/// A field is not valid text in the file's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidText;

/// The byte-order mark at the start of `head`, if any: the encoding and
/// the mark's length.
pub fn bom(head: &[u8]) -> Option<(TextEncoding, usize)> {
    let (e, len) = Encoding::for_bom(head)?;
    Some((if e == UTF_8 { TextEncoding::Utf8 } else { TextEncoding::Utf16(e) }, len))
}

/// Neighbourhood of a byte ≥ 0x80: next to an ASCII letter, next to
/// another high byte, or neither.
const NEXT_TO_LETTER: usize = 0;
const NEXT_TO_HIGH: usize = 1;
const ALONE: usize = 2;

/// What detection needs to know about a whole file, gathered as it streams.
#[derive(Debug, Clone)]
pub struct EncodingStats {
    /// Valid multi-byte UTF-8 sequences seen.
    utf8_sequences: u64,
    /// Invalid UTF-8 sequences seen.
    utf8_errors: u64,
    /// An incomplete UTF-8 sequence at the end of the last chunk.
    carry: Vec<u8>,
    /// Per high byte and neighbourhood: how often.
    high: [[u64; 3]; 128],
    /// The last two bytes seen (to classify the middle one's company).
    prev: Option<u8>,
    cur: Option<u8>,
}

impl Default for EncodingStats {
    fn default() -> Self {
        Self {
            utf8_sequences: 0,
            utf8_errors: 0,
            carry: Vec::new(),
            high: [[0; 3]; 128],
            prev: None,
            cur: None,
        }
    }
}

fn class_of(b: Option<u8>) -> Option<usize> {
    match b {
        Some(b) if b.is_ascii_alphabetic() => Some(NEXT_TO_LETTER),
        Some(b) if b >= 0x80 => Some(NEXT_TO_HIGH),
        _ => None,
    }
}

impl EncodingStats {
    pub fn observe(&mut self, chunk: &[u8]) {
        for &b in chunk {
            self.shift(Some(b));
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let mut rest = &data[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    self.utf8_sequences += count_leads(valid.as_bytes());
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    self.utf8_sequences += count_leads(valid);
                    match e.error_len() {
                        Some(n) => {
                            self.utf8_errors += 1;
                            rest = &after[n..];
                        }
                        None => {
                            self.carry = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Moves the two-byte window on; classifies the byte leaving the middle.
    fn shift(&mut self, next: Option<u8>) {
        if let Some(b) = self.cur
            && b >= 0x80
        {
            let (p, n) = (class_of(self.prev), class_of(next));
            let class = if p == Some(NEXT_TO_LETTER) || n == Some(NEXT_TO_LETTER) {
                NEXT_TO_LETTER
            } else if p == Some(NEXT_TO_HIGH) || n == Some(NEXT_TO_HIGH) {
                NEXT_TO_HIGH
            } else {
                ALONE
            };
            self.high[usize::from(b - 0x80)][class] += 1;
        }
        self.prev = self.cur;
        self.cur = next;
    }

    /// Ends the stream (an incomplete sequence at the end is an error).
    pub fn finish(&mut self) {
        self.shift(None);
        if !std::mem::take(&mut self.carry).is_empty() {
            self.utf8_errors += 1;
        }
    }

    /// The encoding that reads the file best.
    pub fn best(&self) -> TextEncoding {
        if self.utf8_errors == 0 || self.utf8_sequences >= self.utf8_errors {
            return TextEncoding::Utf8;
        }
        let mut best = (i64::MIN, WINDOWS_1250);
        for e in [WINDOWS_1250, WINDOWS_1251, ISO_8859_2] {
            let score = self.score(e);
            if score > best.0 {
                best = (score, e);
            }
        }
        TextEncoding::SingleByte(best.1)
    }

    /// How well `e` reads the high bytes, for the language that fits best.
    fn score(&self, e: &'static Encoding) -> i64 {
        LATIN_ALPHABETS
            .iter()
            .map(|alphabet| {
                let mut total = 0i64;
                for (i, counts) in self.high.iter().enumerate() {
                    if counts.iter().all(|n| *n == 0) {
                        continue;
                    }
                    let byte = [0x80 + i as u8];
                    let c = e.decode_without_bom_handling(&byte).0.chars().next().unwrap_or('\u{fffd}');
                    for (class, n) in counts.iter().enumerate() {
                        total = total.saturating_add(weight(c, class, alphabet).saturating_mul(*n as i64));
                    }
                }
                total
            })
            .max()
            .unwrap_or(0)
    }
}

fn count_leads(valid: &[u8]) -> u64 {
    valid.iter().filter(|b| **b >= 0xc0).count() as u64
}

/// The accented letters of languages written in these encodings: Polish,
/// Czech and Slovak, Hungarian, Slovenian/Croatian, German.
const LATIN_ALPHABETS: &[&str] = &["ąćęłńóśźż", "áčďéěíňóřšťúůýžäľĺôŕ", "áéíóöőúüű", "čćđšž", "äöüß"];

/// How likely character `c` is, given its company.
fn weight(c: char, class: usize, alphabet: &str) -> i64 {
    if c == '\u{fffd}' || ('\u{80}'..='\u{9f}').contains(&c) {
        return -20;
    }
    if c.is_alphabetic() {
        let cyrillic = ('\u{400}'..='\u{4ff}').contains(&c);
        let own = c.to_lowercase().all(|l| alphabet.contains(l));
        return match (cyrillic, class) {
            (true, NEXT_TO_HIGH) => 4,
            (true, NEXT_TO_LETTER) => -6,
            (true, _) => 1,
            (false, NEXT_TO_LETTER) if own => 4,
            (false, NEXT_TO_HIGH) if own => 2,
            (false, _) if own => 1,
            (false, NEXT_TO_LETTER) => 1,
            (false, _) => 0,
        };
    }
    if class == NEXT_TO_LETTER { -4 } else { 0 }
}

/// Reads UTF-16 (after its byte-order mark) as UTF-8.
pub struct Utf16Reader<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    pos: usize,
    done: bool,
}

/// Bytes read from the UTF-16 source at a time.
const TRANSCODE_CHUNK: usize = 16 * 1024;

impl<R: Read> Utf16Reader<R> {
    /// `inner` must be positioned after the byte-order mark.
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; TRANSCODE_CHUNK],
            output: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.output.len() {
            if self.done {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            self.output.clear();
            self.pos = 0;
            let mut src = &self.input[..n];
            loop {
                let room =
                    self.decoder.max_utf8_buffer_length(src.len()).unwrap_or(src.len() * 3 + 16).max(4);
                let start = self.output.len();
                self.output.resize(start + room, 0);
                let (_, read, written, _) = self.decoder.decode_to_utf8(src, &mut self.output[start..], last);
                self.output.truncate(start + written);
                src = &src[read..];
                if src.is_empty() {
                    break;
                }
            }
            self.done = last;
        }
        let n = buf.len().min(self.output.len() - self.pos);
        buf[..n].copy_from_slice(&self.output[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn detect(bytes: &[u8]) -> TextEncoding {
        let mut stats = EncodingStats::default();
        for chunk in bytes.chunks(7) {
            stats.observe(chunk);
        }
        stats.finish();
        stats.best()
    }

    fn encode(e: &'static Encoding, s: &str) -> Vec<u8> {
        let (bytes, _, had_errors) = e.encode(s);
        assert!(!had_errors, "{s} is not representable in {}", e.name());
        bytes.into_owned()
    }

    const POLISH: &str = "imię;nazwisko;telefon\nŁukasz;Wąsik;600100200\nZofia;Żółćńska;600100201\n\
                          Grzegorz;Brzęczyszczykiewicz;600100202\nŚwiętosław;Źdźbło;600100203\nJadwiga;Ślązak;600100204\n";
    const RUSSIAN: &str = "имя;фамилия;телефон\nИван;Петров;+79161234567\nМария;Сидорова;+79161234568\n\
                           Алексей;Кузнецов;+79161234569\n";
    const CZECH: &str = "jméno;příjmení\nJiří;Dvořák\nPetr;Novotný\nTomáš;Černý\nŽaneta;Šťastná\n";

    #[test]
    fn each_encoding_is_recognised_by_its_letters() {
        let cases: &[(&str, &'static Encoding, TextEncoding)] = &[
            (POLISH, UTF_8, TextEncoding::Utf8),
            (POLISH, WINDOWS_1250, TextEncoding::SingleByte(WINDOWS_1250)),
            (POLISH, ISO_8859_2, TextEncoding::SingleByte(ISO_8859_2)),
            (RUSSIAN, WINDOWS_1251, TextEncoding::SingleByte(WINDOWS_1251)),
            (RUSSIAN, UTF_8, TextEncoding::Utf8),
            (CZECH, WINDOWS_1250, TextEncoding::SingleByte(WINDOWS_1250)),
            (CZECH, ISO_8859_2, TextEncoding::SingleByte(ISO_8859_2)),
            ("phone,name\n+48600100200,Jan\n", UTF_8, TextEncoding::Utf8),
        ];
        for (text, encoding, want) in cases {
            let got = detect(&encode(encoding, text));
            assert_eq!(got, *want, "{} text of {:?}", encoding.name(), &text[..12]);
            if let TextEncoding::SingleByte(e) = got {
                assert_eq!(e.decode_without_bom_handling(&encode(encoding, text)).0, *text);
            }
        }
    }

    #[test]
    fn a_utf8_file_with_a_few_broken_bytes_stays_utf8() {
        let mut bytes = encode(UTF_8, POLISH);
        bytes.extend_from_slice(b"Broken;\xff\xfe;600100205\n");
        assert_eq!(detect(&bytes), TextEncoding::Utf8);
        assert_eq!(TextEncoding::Utf8.decode(b"\xff"), Err(InvalidText));
    }

    #[test]
    fn byte_order_marks_decide() {
        assert_eq!(bom(b"\xef\xbb\xbfa"), Some((TextEncoding::Utf8, 3)));
        assert_eq!(bom(b"\xff\xfea\0"), Some((TextEncoding::Utf16(UTF_16LE), 2)));
        assert_eq!(bom(b"a,b"), None);
    }

    #[test]
    fn labels_name_the_supported_encodings_only() {
        for (label, want) in [
            ("UTF-8", "UTF-8"),
            ("cp1250", "windows-1250"),
            ("windows-1251", "windows-1251"),
            ("latin2", "ISO-8859-2"),
            ("iso-8859-2", "ISO-8859-2"),
            ("utf-16le", "UTF-16LE"),
        ] {
            assert_eq!(TextEncoding::from_label(label).map(TextEncoding::name), Some(want), "{label}");
        }
        for bad in ["shift_jis", "gb18030", "klingon", ""] {
            assert_eq!(TextEncoding::from_label(bad), None, "{bad}");
        }
    }

    #[test]
    fn utf16_is_transcoded_to_utf8_across_chunk_boundaries() {
        let text = "телефон\tимя\n+79161234567\tИван\n".repeat(2_000);
        let mut bytes = Vec::new();
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let mut out = String::new();
        Utf16Reader::new(&bytes[..], UTF_16LE).read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
    }

    proptest! {
        #[test]
        fn detection_never_panics_and_valid_utf8_is_always_utf8(bytes in prop::collection::vec(any::<u8>(), 0..400), s in ".{0,100}") {
            let _ = detect(&bytes);
            prop_assert_eq!(detect(s.as_bytes()), TextEncoding::Utf8);
        }
    }
}
