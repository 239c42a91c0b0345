//! [`DecodeError`]: why a byte sequence is not a valid encoding.

/// Why bytes could not be decoded into a [`Payload`](super::Payload).
///
/// Every variant names the absolute byte offset (from the start of the buffer) at which the
/// problem was found. Errors raised inside a derived type are wrapped in
/// [`DecodeError::InField`], so the message reads like a path:
/// ``in `Event.particles`: in `Particle.status`: invalid bool at byte 17: expected 0 or 1, found 7``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before a value was complete.
    #[error(
        "unexpected end of input at byte {offset}: {what} needs {needed} bytes, {available} left"
    )]
    UnexpectedEnd {
        /// Where the value starts.
        offset: usize,
        /// What was being read.
        what: &'static str,
        /// Bytes the value needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A length prefix announces more elements than the remaining input can hold.
    #[error(
        "length prefix at byte {offset} announces {len} elements of {what}, but the {available} \
         bytes left can hold at most {max}"
    )]
    LengthTooLarge {
        /// Where the length prefix starts.
        offset: usize,
        /// The element type.
        what: &'static str,
        /// The announced element count.
        len: u64,
        /// Bytes left after the prefix.
        available: usize,
        /// The largest count those bytes could hold.
        max: u64,
    },
    /// The input announced more elements than its decode element budget allows: at most
    /// [`BUDGET_PER_BYTE`](super::BUDGET_PER_BYTE) elements per input byte plus
    /// [`BUDGET_BASE`](super::BUDGET_BASE), counted over the whole value, so that the work of
    /// a decode stays within a multiple of the input's length (the memory has its own
    /// budget: [`DecodeError::MemoryBudgetExceeded`]).
    #[error(
        "decode element budget exceeded at byte {offset}: {elements} elements of {what} \
         announced, but only {left} are left of the budget for {len} input bytes (the input is \
         corrupt or hostile, or the value holds more elements that encode to nothing than the \
         budget allows: send fewer)"
    )]
    BudgetExceeded {
        /// Where the announcing length prefix (or fixed-size array) starts.
        offset: usize,
        /// The element type.
        what: &'static str,
        /// The announced element count.
        elements: u64,
        /// Elements left in the budget.
        left: usize,
        /// The length of the input, which sets the budget.
        len: usize,
    },
    /// The input announced values whose memory exceeds its decode memory budget: at most
    /// [`MEMORY_PER_BYTE`](super::MEMORY_PER_BYTE) bytes per input byte plus
    /// [`MEMORY_BASE`](super::MEMORY_BASE), counted over the whole value and charged before
    /// the memory is reserved, so that a decode's peak heap stays within a multiple of the
    /// input's length (see [Decoding and memory](super#decoding-and-memory)).
    #[error(
        "decode memory budget exceeded at byte {offset}: {what} needs {bytes} bytes, but only \
         {left} are left of the budget for {len} input bytes (the input is corrupt or hostile, \
         or the value holds elements much larger in memory than in their encoding, such as \
         mostly-`None` `Option<[u8; 4096]>` or an enum with one large variant: box the large \
         part)"
    )]
    MemoryBudgetExceeded {
        /// Where the value that needs the memory starts (a length prefix, a `Box`'s value).
        offset: usize,
        /// The type whose memory is charged (the element type of a sequence).
        what: &'static str,
        /// The bytes it needs.
        bytes: usize,
        /// Bytes left in the memory budget.
        left: usize,
        /// The length of the input, which sets the budget.
        len: usize,
    },
    /// The allocator refused memory within the decode budget (the process is near its memory
    /// limit, e.g. `ulimit -v`); the decode stopped instead of aborting the process.
    #[error(
        "out of memory at byte {offset}: reserving {bytes} bytes for {what} failed ({source}); \
         raise the process's memory limit or send a smaller value"
    )]
    OutOfMemory {
        /// Where the value that needs the memory starts.
        offset: usize,
        /// The type whose memory was reserved.
        what: &'static str,
        /// The bytes asked for.
        bytes: usize,
        /// The allocator's error.
        #[source]
        source: std::collections::TryReserveError,
    },
    /// A `bool` byte other than 0 or 1.
    #[error("invalid bool at byte {offset}: expected 0 or 1, found {found}")]
    InvalidBool {
        /// Where the byte is.
        offset: usize,
        /// The byte found.
        found: u8,
    },
    /// A `char` that is not a Unicode scalar value.
    #[error("invalid char at byte {offset}: {found:#x} is not a Unicode scalar value")]
    InvalidChar {
        /// Where the `u32` starts.
        offset: usize,
        /// The value found.
        found: u32,
    },
    /// A `String` whose bytes are not UTF-8.
    #[error("invalid UTF-8 in string at byte {offset}: {source}")]
    InvalidUtf8 {
        /// Where the string bytes start.
        offset: usize,
        /// What is wrong with them.
        #[source]
        source: std::str::Utf8Error,
    },
    /// An `Option` tag other than 0 (`None`) or 1 (`Some`).
    #[error("invalid Option tag at byte {offset}: expected 0 or 1, found {found}")]
    InvalidOptionTag {
        /// Where the tag is.
        offset: usize,
        /// The tag found.
        found: u8,
    },
    /// An enum tag that names no variant.
    #[error(
        "invalid variant tag at byte {offset} for enum `{type_name}`: expected 0..{variants}, \
         found {found}"
    )]
    InvalidVariant {
        /// Where the tag starts.
        offset: usize,
        /// The enum.
        type_name: &'static str,
        /// How many variants it has.
        variants: u32,
        /// The tag found.
        found: u32,
    },
    /// A `u64` that does not fit the in-memory type (`usize`/`isize`).
    #[error("value {value} at byte {offset} does not fit in `{type_name}`")]
    OutOfRange {
        /// Where the value starts.
        offset: usize,
        /// The target type.
        type_name: &'static str,
        /// The value, as the two's complement bit pattern of the encoded 64 bits.
        value: u64,
    },
    /// Alignment padding before plain-old-data elements was not zero.
    #[error("non-zero alignment padding at byte {offset}")]
    NonZeroPadding {
        /// Where the padding byte is.
        offset: usize,
    },
    /// A map or set contained the same key twice.
    #[error("duplicate key at byte {offset} in `{type_name}`")]
    DuplicateKey {
        /// Where the second occurrence starts.
        offset: usize,
        /// The map or set type.
        type_name: &'static str,
    },
    /// Derived types were nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("nesting deeper than {limit} levels at byte {offset} (hostile or corrupt input?)")]
    TooDeep {
        /// Where the too-deep value starts.
        offset: usize,
        /// The limit.
        limit: u32,
    },
    /// A borrowed plain-old-data view was requested, but the data is not aligned in memory.
    #[error(
        "plain-old-data slice at byte {offset} is not aligned to {align} bytes in memory: \
         decode a `Vec` instead or map the buffer at an aligned address"
    )]
    Misaligned {
        /// Where the data starts.
        offset: usize,
        /// The required alignment.
        align: usize,
    },
    /// Bytes were left after the value was complete.
    #[error("trailing bytes: the value ends at byte {offset}, but the input has {len} bytes")]
    TrailingBytes {
        /// Where the value ended.
        offset: usize,
        /// The length of the input.
        len: usize,
    },
    /// An error inside a field of a derived type.
    #[error("in `{type_name}.{field}`: {error}")]
    InField {
        /// The derived type (for enums `Enum::Variant`).
        type_name: &'static str,
        /// The field name, or its index for tuple fields.
        field: &'static str,
        /// What went wrong inside the field.
        error: Box<DecodeError>,
    },
}

impl DecodeError {
    /// The innermost error, without the [`DecodeError::InField`] context.
    pub fn root_cause(&self) -> &DecodeError {
        let mut error = self;
        while let DecodeError::InField { error: inner, .. } = error {
            error = inner;
        }
        error
    }

    /// Wraps `self` with the field it occurred in.
    pub(crate) fn in_field(self, type_name: &'static str, field: &'static str) -> Self {
        DecodeError::InField {
            type_name,
            field,
            error: Box::new(self),
        }
    }
}

/// The error's field path costs at most [`MAX_DEPTH`](super::MAX_DEPTH) boxed errors (one
/// [`DecodeError::InField`] per derived level): 16 KiB at 64 bytes each, the part of `C` in
/// the documented bound of a decode's peak heap that is not the memory budget.
pub(crate) const ERROR_PATH_BYTES: usize = 16 * 1024;

const _: () = assert!(
    super::MAX_DEPTH as usize * core::mem::size_of::<DecodeError>() <= ERROR_PATH_BYTES,
    "the documented bound counts at most 64 bytes per boxed error"
);
