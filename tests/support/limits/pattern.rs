//! What a regular expression admits, in the terms a naming rule cares about: the shortest and
//! longest string, the characters that can appear anywhere, first and last. Only the constructs
//! our patterns use are understood (literals, escapes, classes, `.`, `?`, `*`, `+`, `{m,n}`,
//! anchors at the ends); anything else is refused with its position, never guessed.

use std::fmt;

/// A set of characters: every ASCII character individually, everything else as one flag.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct CharSet {
    ascii: u128,
    other: bool,
}

impl CharSet {
    pub const EMPTY: CharSet = CharSet {
        ascii: 0,
        other: false,
    };

    pub fn any() -> Self {
        CharSet {
            ascii: u128::MAX,
            other: true,
        }
    }

    pub fn of(chars: &str) -> Self {
        chars.chars().fold(Self::EMPTY, |set, c| set.with(c))
    }

    pub fn range(from: char, to: char) -> Self {
        (from..=to).fold(Self::EMPTY, |set, c| set.with(c))
    }

    pub fn with(mut self, c: char) -> Self {
        if c.is_ascii() {
            self.ascii |= 1u128 << (c as u32);
        } else {
            self.other = true;
        }
        self
    }

    pub fn union(self, other: CharSet) -> Self {
        CharSet {
            ascii: self.ascii | other.ascii,
            other: self.other || other.other,
        }
    }

    /// Everything this set lacks, non-ASCII characters included.
    pub fn complement(self) -> Self {
        CharSet {
            ascii: !self.ascii,
            other: !self.other,
        }
    }

    pub fn contains(self, c: char) -> bool {
        if c.is_ascii() {
            self.ascii & (1u128 << (c as u32)) != 0
        } else {
            self.other
        }
    }

    pub fn is_empty(self) -> bool {
        self.ascii == 0 && !self.other
    }

    /// The characters of `self` that `allowed` lacks.
    pub fn minus(self, allowed: CharSet) -> CharSet {
        CharSet {
            ascii: self.ascii & !allowed.ascii,
            other: self.other && !allowed.other,
        }
    }

    pub fn ascii_chars(self) -> impl Iterator<Item = char> {
        (0u8..128)
            .map(char::from)
            .filter(move |c| self.contains(*c))
    }

    pub fn has_non_ascii(self) -> bool {
        self.other
    }

    /// `\d`, `\w`, `\s` as Java and Rust's ASCII modes define them.
    pub fn digits() -> Self {
        Self::range('0', '9')
    }

    pub fn word() -> Self {
        Self::range('a', 'z')
            .union(Self::range('A', 'Z'))
            .union(Self::digits())
            .with('_')
    }

    pub fn space() -> Self {
        Self::of(" \t\n\r\u{0b}\u{0c}")
    }
}

impl fmt::Debug for CharSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self
            .ascii_chars()
            .map(|c| {
                if c.is_ascii_graphic() {
                    c.to_string()
                } else {
                    format!("\\x{:02x}", c as u32)
                }
            })
            .collect();
        let other = if self.other { " + non-ASCII" } else { "" };
        write!(f, "[{shown}]{other}")
    }
}

/// The shape of a set of strings: length bounds and where each character may stand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub min: usize,
    /// `None`: no upper bound.
    pub max: Option<usize>,
    pub chars: CharSet,
    pub first: CharSet,
    pub last: CharSet,
}

impl Shape {
    pub fn literal(text: &str) -> Self {
        let count = text.chars().count();
        Shape {
            min: count,
            max: Some(count),
            chars: CharSet::of(text),
            first: text
                .chars()
                .next()
                .map_or(CharSet::EMPTY, |c| CharSet::EMPTY.with(c)),
            last: text
                .chars()
                .next_back()
                .map_or(CharSet::EMPTY, |c| CharSet::EMPTY.with(c)),
        }
    }

    /// Between `min` and `max` characters, each from `chars`.
    pub fn run(chars: CharSet, min: usize, max: Option<usize>) -> Self {
        let edge = if max == Some(0) {
            CharSet::EMPTY
        } else {
            chars
        };
        Shape {
            min,
            max,
            chars: if max == Some(0) {
                CharSet::EMPTY
            } else {
                chars
            },
            first: edge,
            last: edge,
        }
    }

    /// Any string at all: what an unconstrained parameter admits.
    pub fn anything() -> Self {
        Self::run(CharSet::any(), 0, None)
    }

    /// This string followed by `next`.
    pub fn then(&self, next: &Shape) -> Shape {
        let first = if self.max == Some(0) {
            next.first
        } else if self.min == 0 {
            self.first.union(next.first)
        } else {
            self.first
        };
        let last = if next.max == Some(0) {
            self.last
        } else if next.min == 0 {
            next.last.union(self.last)
        } else {
            next.last
        };
        Shape {
            min: self.min + next.min,
            max: self.max.zip(next.max).map(|(a, b)| a + b),
            chars: self.chars.union(next.chars),
            first,
            last,
        }
    }

    /// Either this string or `other` (a parameter's `AllowedValues`).
    pub fn or(&self, other: &Shape) -> Shape {
        Shape {
            min: self.min.min(other.min),
            max: self.max.zip(other.max).map(|(a, b)| a.max(b)),
            chars: self.chars.union(other.chars),
            first: self.first.union(other.first),
            last: self.last.union(other.last),
        }
    }

    /// The same strings, cut to a parameter's `MinLength` / `MaxLength`.
    pub fn within(&self, min: Option<usize>, max: Option<usize>) -> Shape {
        let mut shape = self.clone();
        if let Some(min) = min {
            shape.min = shape.min.max(min);
        }
        if let Some(max) = max {
            shape.max = Some(shape.max.map_or(max, |m| m.min(max)));
        }
        shape
    }
}

/// The shape of every string `pattern` matches as a whole (CloudFormation's AllowedPattern and
/// the services' name patterns are full matches; leading `^` and trailing `$` are optional).
pub fn shape_of(pattern: &str) -> Result<Shape, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut end = chars.len();
    if end > 0 && chars[end - 1] == '$' && !(end > 1 && chars[end - 2] == '\\') {
        end -= 1;
    }
    let mut at = usize::from(chars.first() == Some(&'^'));
    let mut shape = Shape::literal("");
    while at < end {
        let (atom, next) = atom(&chars, at, end, pattern)?;
        let (min, max, next) = quantifier(&chars, next, end, pattern)?;
        let repeated = Shape {
            min: atom.min * min,
            max: max.and_then(|m| atom.max.map(|a| a * m)),
            ..atom
        };
        let repeated = if max == Some(0) {
            Shape::literal("")
        } else {
            repeated
        };
        shape = shape.then(&repeated);
        at = next;
    }
    Ok(shape)
}

fn unsupported(pattern: &str, at: usize, what: &str) -> String {
    format!("pattern {pattern:?}: {what} at position {at} is not supported by this analyser")
}

/// One character class, escape, `.` or literal, as a one-character shape.
fn atom(chars: &[char], at: usize, end: usize, pattern: &str) -> Result<(Shape, usize), String> {
    let one = |set: CharSet| Shape::run(set, 1, Some(1));
    match chars[at] {
        '[' => {
            let (set, next) = class(chars, at + 1, end, pattern)?;
            Ok((one(set), next))
        }
        '\\' => {
            let (set, next) = escape(chars, at + 1, end, pattern)?;
            Ok((one(set), next))
        }
        '.' => Ok((one(CharSet::any().minus(CharSet::of("\n"))), at + 1)),
        c @ ('(' | ')' | '|' | '^' | '$' | '*' | '+' | '?' | '{' | '}') => {
            Err(unsupported(pattern, at, &format!("`{c}`")))
        }
        c => Ok((one(CharSet::EMPTY.with(c)), at + 1)),
    }
}

/// `\d \w \s` (and negations) or an escaped literal.
fn escape(
    chars: &[char],
    at: usize,
    end: usize,
    pattern: &str,
) -> Result<(CharSet, usize), String> {
    let Some(&c) = chars.get(at).filter(|_| at < end) else {
        return Err(unsupported(pattern, at, "a trailing `\\`"));
    };
    let set = match c {
        'd' => CharSet::digits(),
        'w' => CharSet::word(),
        's' => CharSet::space(),
        'D' => CharSet::digits().complement(),
        'W' => CharSet::word().complement(),
        'S' => CharSet::space().complement(),
        'x' => {
            let hex: String = chars.iter().skip(at + 1).take(2).collect();
            let code = u8::from_str_radix(&hex, 16)
                .ok()
                .filter(|_| hex.len() == 2 && at + 3 <= end)
                .ok_or_else(|| unsupported(pattern, at - 1, "a `\\x` without two hex digits"))?;
            return Ok((CharSet::EMPTY.with(char::from(code)), at + 3));
        }
        c if c.is_ascii_punctuation() => CharSet::EMPTY.with(c),
        c => return Err(unsupported(pattern, at - 1, &format!("`\\{c}`"))),
    };
    Ok((set, at + 1))
}

/// A `[...]` class body starting after `[`; returns the set and the index after `]`.
fn class(
    chars: &[char],
    mut at: usize,
    end: usize,
    pattern: &str,
) -> Result<(CharSet, usize), String> {
    let negated = chars.get(at) == Some(&'^');
    if negated {
        at += 1;
    }
    let mut set = CharSet::EMPTY;
    let mut first = true;
    loop {
        let Some(&c) = chars.get(at).filter(|_| at < end) else {
            return Err(unsupported(pattern, at, "an unclosed `[`"));
        };
        if c == ']' && !first {
            at += 1;
            break;
        }
        if c == '[' {
            return Err(unsupported(pattern, at, "a nested `[`"));
        }
        let (item, next) = if c == '\\' {
            escape(chars, at + 1, end, pattern)?
        } else {
            (CharSet::EMPTY.with(c), at + 1)
        };
        // A range `a-z`: one character, `-`, one character (not `]`).
        let is_range = chars.get(next) == Some(&'-')
            && chars.get(next + 1).is_some_and(|&n| n != ']')
            && next + 1 < end;
        let class_escape = matches!(c, '\\')
            && !matches!(chars[at + 1], 'x')
            && !chars[at + 1].is_ascii_punctuation();
        let from = item
            .ascii_chars()
            .next()
            .filter(|_| !class_escape && !item.has_non_ascii());
        if is_range && from.is_none() {
            return Err(unsupported(
                pattern,
                next,
                "a range from a class or a non-ASCII character",
            ));
        }
        if let (Some(from), true) = (from, is_range) {
            let (to_set, after) = if chars[next + 1] == '\\' {
                escape(chars, next + 2, end, pattern)?
            } else {
                (CharSet::EMPTY.with(chars[next + 1]), next + 2)
            };
            let Some(to) = to_set
                .ascii_chars()
                .next()
                .filter(|_| !to_set.has_non_ascii())
            else {
                return Err(unsupported(pattern, next, "a range to a class"));
            };
            if to < from {
                return Err(unsupported(pattern, next, "a reversed range"));
            }
            set = set.union(CharSet::range(from, to));
            at = after;
        } else {
            set = set.union(item);
            at = next;
        }
        first = false;
    }
    Ok((if negated { set.complement() } else { set }, at))
}

/// `?`, `*`, `+`, `{m}`, `{m,}`, `{m,n}` after an atom (greedy only).
fn quantifier(
    chars: &[char],
    at: usize,
    end: usize,
    pattern: &str,
) -> Result<(usize, Option<usize>, usize), String> {
    let (min, max, next) = match chars.get(at).filter(|_| at < end) {
        Some('?') => (0, Some(1), at + 1),
        Some('*') => (0, None, at + 1),
        Some('+') => (1, None, at + 1),
        Some('{') => {
            let close = (at..end)
                .find(|&i| chars[i] == '}')
                .ok_or_else(|| unsupported(pattern, at, "an unclosed `{`"))?;
            let body: String = chars[at + 1..close].iter().collect();
            let number = |s: &str| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| unsupported(pattern, at, &format!("the repetition `{{{body}}}`")))
            };
            let (min, max) = match body.split_once(',') {
                None => (number(&body)?, Some(number(&body)?)),
                Some((low, "")) => (number(low)?, None),
                Some((low, high)) => (number(low)?, Some(number(high)?)),
            };
            (min, max, close + 1)
        }
        _ => return Ok((1, Some(1), at)),
    };
    if matches!(chars.get(next), Some('?' | '+')) && next < end {
        return Err(unsupported(
            pattern,
            next,
            "a lazy or possessive quantifier",
        ));
    }
    Ok((min, max, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_suffix_pattern_allows_two_to_sixteen_lower_case_characters() {
        let shape = shape_of("^[a-z][a-z0-9-]{1,15}$").unwrap();
        assert_eq!((shape.min, shape.max), (2, Some(16)));
        assert_eq!(shape.first, CharSet::range('a', 'z'));
        assert!(shape.last.contains('-') && !shape.last.contains('A'));
        assert!(shape.chars.contains('7') && !shape.chars.contains('_'));
    }

    #[test]
    fn classes_escapes_and_quantifiers() {
        let email = shape_of("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$").unwrap();
        assert_eq!((email.min, email.max), (5, None));
        assert!(email.chars.has_non_ascii() && email.chars.contains('@'));
        assert!(!email.first.contains('@') && !email.first.contains(' '));
        let optional = shape_of("ab?c*").unwrap();
        assert_eq!((optional.min, optional.max), (1, None));
        assert_eq!(optional.last, CharSet::of("abc"));
        let word = shape_of("^[\\w+=,.@-]+$").unwrap();
        assert!(word.chars.contains('_') && word.chars.contains('+') && word.chars.contains('-'));
        let uuid =
            shape_of("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$").unwrap();
        assert_eq!((uuid.min, uuid.max), (36, Some(36)));
        let exact = shape_of("^[A-Z]{3}$").unwrap();
        assert_eq!((exact.min, exact.max), (3, Some(3)));
        let open = shape_of("x{2,}").unwrap();
        assert_eq!((open.min, open.max), (2, None));
    }

    #[test]
    fn constructs_it_does_not_understand_are_refused_not_guessed() {
        for pattern in ["^(a|b)$", "a|b", "\\bword", "a+?", "[a-", "x{1,2", "\\p{L}"] {
            assert!(shape_of(pattern).is_err(), "{pattern} must be refused");
        }
    }

    #[test]
    fn concatenation_tracks_first_and_last_characters_through_optional_parts() {
        let shape = Shape::literal("a")
            .then(&Shape::run(CharSet::of("-"), 0, Some(3)))
            .then(&Shape::literal(""));
        assert_eq!(shape.last, CharSet::of("a-"));
        let leading = Shape::run(CharSet::of("."), 0, Some(1)).then(&Shape::literal("b"));
        assert_eq!(leading.first, CharSet::of(".b"));
        assert_eq!((leading.min, leading.max), (1, Some(2)));
    }
}
