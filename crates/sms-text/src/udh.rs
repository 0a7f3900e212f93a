//! The user data header (3GPP TS 23.040 §9.2.3.24): the UDHL length octet followed by
//! information elements (IEI, length, data).
//!
//! This module owns the typed information elements Kurier uses — concatenation with an
//! 8-bit (IEI 0x00) or 16-bit (IEI 0x08) reference and application port addressing with
//! 8-bit (0x04) or 16-bit (0x05) ports — keeps every other element as raw bytes, and
//! encodes and parses the header. It does not choose concatenation references, reassemble
//! parts, or know where the header sits in a PDU (TP-UDHI / SMPP `esm_class` bit 0x40 is
//! the caller's); for the fill bits that follow a header in GSM 7-bit text see
//! [`crate::gsm7::fill_bits_after_udh`].

use std::fmt;

/// IEI of concatenated short messages with an 8-bit reference.
pub const IEI_CONCAT_8BIT: u8 = 0x00;
/// IEI of application port addressing with 8-bit ports.
pub const IEI_PORTS_8BIT: u8 = 0x04;
/// IEI of application port addressing with 16-bit ports.
pub const IEI_PORTS_16BIT: u8 = 0x05;
/// IEI of concatenated short messages with a 16-bit reference.
pub const IEI_CONCAT_16BIT: u8 = 0x08;

/// Largest header body the one-octet UDHL can describe.
pub const MAX_UDHL: usize = u8::MAX as usize;

/// One information element of a user data header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InformationElement {
    /// IEI 0x00: part `seq` of `total` of the message with this `reference`.
    Concat8 { reference: u8, total: u8, seq: u8 },
    /// IEI 0x08: as [`Self::Concat8`] with a 16-bit reference.
    Concat16 { reference: u16, total: u8, seq: u8 },
    /// IEI 0x04: application ports, 8-bit.
    Ports8 { destination: u8, source: u8 },
    /// IEI 0x05: application ports, 16-bit (e.g. 2948 for WAP push).
    Ports16 { destination: u16, source: u16 },
    /// Any other element, kept as it came. Its IEI must not be one of the four above
    /// (use the typed variant) and its data at most 255 octets; [`Udh::new`] checks both.
    Other { iei: u8, data: Vec<u8> },
}

impl InformationElement {
    /// The element's identifier.
    pub fn iei(&self) -> u8 {
        match self {
            Self::Concat8 { .. } => IEI_CONCAT_8BIT,
            Self::Concat16 { .. } => IEI_CONCAT_16BIT,
            Self::Ports8 { .. } => IEI_PORTS_8BIT,
            Self::Ports16 { .. } => IEI_PORTS_16BIT,
            Self::Other { iei, .. } => *iei,
        }
    }

    /// Octets on the wire: IEI, length, data.
    pub fn encoded_len(&self) -> usize {
        2 + match self {
            Self::Concat8 { .. } => 3,
            Self::Ports8 { .. } => 2,
            Self::Concat16 { .. } | Self::Ports16 { .. } => 4,
            Self::Other { data, .. } => data.len(),
        }
    }

    fn data(&self) -> Vec<u8> {
        match self {
            Self::Concat8 { reference, total, seq } => vec![*reference, *total, *seq],
            Self::Concat16 { reference, total, seq } => {
                let [hi, lo] = reference.to_be_bytes();
                vec![hi, lo, *total, *seq]
            }
            Self::Ports8 { destination, source } => vec![*destination, *source],
            Self::Ports16 { destination, source } => {
                let [dh, dl] = destination.to_be_bytes();
                let [sh, sl] = source.to_be_bytes();
                vec![dh, dl, sh, sl]
            }
            Self::Other { data, .. } => data.clone(),
        }
    }

    /// Builds the element for `iei` from its data; errors if a known IEI has the wrong
    /// length.
    fn from_wire(iei: u8, data: &[u8]) -> Result<Self, UdhError> {
        let wrong_length = |expected| UdhError::ElementLength { iei, expected, actual: data.len() };
        Ok(match iei {
            IEI_CONCAT_8BIT => match *data {
                [reference, total, seq] => Self::Concat8 { reference, total, seq },
                _ => return Err(wrong_length(3)),
            },
            IEI_CONCAT_16BIT => match *data {
                [hi, lo, total, seq] => {
                    Self::Concat16 { reference: u16::from_be_bytes([hi, lo]), total, seq }
                }
                _ => return Err(wrong_length(4)),
            },
            IEI_PORTS_8BIT => match *data {
                [destination, source] => Self::Ports8 { destination, source },
                _ => return Err(wrong_length(2)),
            },
            IEI_PORTS_16BIT => match *data {
                [dh, dl, sh, sl] => Self::Ports16 {
                    destination: u16::from_be_bytes([dh, dl]),
                    source: u16::from_be_bytes([sh, sl]),
                },
                _ => return Err(wrong_length(4)),
            },
            _ => Self::Other { iei, data: data.to_vec() },
        })
    }
}

/// Concatenation information, whichever reference size carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Concat {
    /// Same for every part of one message (an 8-bit reference is widened).
    pub reference: u16,
    /// Number of parts, at least 1.
    pub total: u8,
    /// This part's number, `1..=total`.
    pub seq: u8,
}

/// A user data header: a list of information elements that fits the one-octet UDHL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Udh {
    elements: Vec<InformationElement>,
}

impl Udh {
    /// A header with these elements, in this order. Rejects an [`InformationElement::Other`]
    /// that uses a typed IEI or has more than 255 data octets, and a total above
    /// [`MAX_UDHL`] octets.
    pub fn new(elements: Vec<InformationElement>) -> Result<Self, UdhError> {
        let mut total = 0;
        for element in &elements {
            if let InformationElement::Other { iei, data } = element {
                if matches!(*iei, IEI_CONCAT_8BIT | IEI_CONCAT_16BIT | IEI_PORTS_8BIT | IEI_PORTS_16BIT) {
                    return Err(UdhError::TypedIeiAsOther { iei: *iei });
                }
                if data.len() > usize::from(u8::MAX) {
                    return Err(UdhError::ElementTooLong { iei: *iei, len: data.len() });
                }
            }
            total += element.encoded_len();
        }
        if total > MAX_UDHL {
            return Err(UdhError::HeaderTooLong { len: total });
        }
        Ok(Self { elements })
    }

    /// The header of part `seq` of `total` with an 8-bit reference (6 octets).
    pub fn concat8(reference: u8, total: u8, seq: u8) -> Self {
        Self { elements: vec![InformationElement::Concat8 { reference, total, seq }] }
    }

    /// The header of part `seq` of `total` with a 16-bit reference (7 octets).
    pub fn concat16(reference: u16, total: u8, seq: u8) -> Self {
        Self { elements: vec![InformationElement::Concat16 { reference, total, seq }] }
    }

    /// The elements in wire order.
    pub fn elements(&self) -> &[InformationElement] {
        &self.elements
    }

    /// Octets [`Self::encode`] produces, UDHL included.
    pub fn encoded_len(&self) -> usize {
        1 + self.elements.iter().map(InformationElement::encoded_len).sum::<usize>()
    }

    /// The header on the wire: UDHL, then each element as IEI, length, data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        // `new` guarantees the body length and every element length fit in a byte.
        out.push(u8::try_from(self.encoded_len() - 1).unwrap_or(u8::MAX));
        for element in &self.elements {
            let data = element.data();
            out.push(element.iei());
            out.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&data);
        }
        out
    }

    /// Parses a header at the start of `user_data` and returns it with the bytes after
    /// it (the message text). Errors name what was wrong: a missing UDHL, a UDHL longer
    /// than the data, an element header or body that runs past the UDHL, or a typed
    /// element of the wrong length.
    pub fn parse(user_data: &[u8]) -> Result<(Self, &[u8]), UdhError> {
        let (&udhl, after_udhl) = user_data.split_first().ok_or(UdhError::Empty)?;
        let udhl = usize::from(udhl);
        if udhl > after_udhl.len() {
            return Err(UdhError::Truncated { udhl, available: after_udhl.len() });
        }
        let (mut body, rest) = after_udhl.split_at(udhl);
        let mut elements = Vec::new();
        while !body.is_empty() {
            let offset = udhl - body.len();
            let [iei, len, data @ ..] = body else {
                return Err(UdhError::ElementHeaderTruncated { offset });
            };
            let len = usize::from(*len);
            if len > data.len() {
                return Err(UdhError::ElementTruncated { iei: *iei, len, available: data.len() });
            }
            let (data, next) = data.split_at(len);
            elements.push(InformationElement::from_wire(*iei, data)?);
            body = next;
        }
        Ok((Self { elements }, rest))
    }

    /// The concatenation information of this part, if any. Per TS 23.040 the last
    /// concatenation element wins, and one with `total` 0, `seq` 0 or `seq > total` is
    /// ignored (`None` if that leaves nothing).
    pub fn concatenation(&self) -> Option<Concat> {
        let concat = self.elements.iter().rev().find_map(|element| match *element {
            InformationElement::Concat8 { reference, total, seq } => {
                Some(Concat { reference: u16::from(reference), total, seq })
            }
            InformationElement::Concat16 { reference, total, seq } => Some(Concat { reference, total, seq }),
            _ => None,
        })?;
        (concat.total != 0 && concat.seq != 0 && concat.seq <= concat.total).then_some(concat)
    }
}

/// Why a user data header could not be parsed or built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdhError {
    /// There was no byte at all, so no UDHL.
    Empty,
    /// The UDHL says `udhl` octets follow but only `available` do.
    Truncated { udhl: usize, available: usize },
    /// At `offset` into the header body there are fewer than the 2 octets of an
    /// element's IEI and length.
    ElementHeaderTruncated { offset: usize },
    /// Element `iei` declares `len` data octets but the header has only `available` left.
    ElementTruncated { iei: u8, len: usize, available: usize },
    /// Element `iei` is one of the typed ones and must have `expected` data octets.
    ElementLength { iei: u8, expected: usize, actual: usize },
    /// An [`InformationElement::Other`] used a typed IEI.
    TypedIeiAsOther { iei: u8 },
    /// An element's data has `len` octets, more than its length octet can say.
    ElementTooLong { iei: u8, len: usize },
    /// The elements take `len` octets, more than the UDHL can say.
    HeaderTooLong { len: usize },
}

impl fmt::Display for UdhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "user data header: no UDHL octet"),
            Self::Truncated { udhl, available } => {
                write!(f, "user data header: UDHL is {udhl} but only {available} octets follow")
            }
            Self::ElementHeaderTruncated { offset } => {
                write!(f, "user data header: element at offset {offset} has no room for IEI and length")
            }
            Self::ElementTruncated { iei, len, available } => write!(
                f,
                "user data header: element IEI {iei:#04x} declares {len} octets but only \
                 {available} remain in the header"
            ),
            Self::ElementLength { iei, expected, actual } => write!(
                f,
                "user data header: element IEI {iei:#04x} must have {expected} octets, has {actual}"
            ),
            Self::TypedIeiAsOther { iei } => {
                write!(f, "user data header: IEI {iei:#04x} has a typed variant and cannot be `Other`")
            }
            Self::ElementTooLong { iei, len } => {
                write!(f, "user data header: element IEI {iei:#04x} has {len} octets, at most 255 fit")
            }
            Self::HeaderTooLong { len } => {
                write!(f, "user data header: elements take {len} octets, at most {MAX_UDHL} fit")
            }
        }
    }
}

impl std::error::Error for UdhError {}
