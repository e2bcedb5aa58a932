//! SPDX licence expressions as crates declare them (`license = "MIT OR Apache-2.0"`), and
//! whether an allow list satisfies one.
//!
//! Grammar (SPDX 2.x, annex D): `OR` binds looser than `AND`, `WITH` attaches an exception
//! to one licence, parentheses group. Like cargo-deny's lax mode, `/` is read as `OR`
//! (older crates write `MIT/Apache-2.0`) and the operators are accepted in lower case.
//! A licence with an exception is a licence of its own: `Apache-2.0 WITH LLVM-exception`
//! is satisfied only by that exact pair in the allow list, as in cargo-deny
//! (https://embarkstudios.github.io/cargo-deny/checks/licenses/cfg.html).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    License {
        id: String,
        exception: Option<String>,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

pub fn parse(text: &str) -> Result<Expr, String> {
    let tokens = tokens(text);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
    };
    let expr = parser.or();
    expr.and_then(|expr| match parser.peek() {
        None => Ok(expr),
        Some(extra) => Err(format!("unexpected `{extra}`")),
    })
    .map_err(|e| format!("`{text}` is not an SPDX expression: {e}"))
}

impl Expr {
    /// True when the licences `allowed` accepts make the expression hold.
    pub fn satisfied(&self, allowed: &dyn Fn(&str, Option<&str>) -> bool) -> bool {
        match self {
            Expr::License { id, exception } => allowed(id, exception.as_deref()),
            Expr::And(all) => all.iter().all(|e| e.satisfied(allowed)),
            Expr::Or(any) => any.iter().any(|e| e.satisfied(allowed)),
        }
    }

    /// Every licence the expression names, with its exception.
    pub fn leaves(&self) -> Vec<(&str, Option<&str>)> {
        match self {
            Expr::License { id, exception } => vec![(id.as_str(), exception.as_deref())],
            Expr::And(items) | Expr::Or(items) => items.iter().flat_map(Expr::leaves).collect(),
        }
    }

    /// Every licence the expression names, as `id` or `id WITH exception`.
    pub fn licenses(&self) -> Vec<String> {
        match self {
            Expr::License { id, exception } => vec![match exception {
                Some(exception) => format!("{id} WITH {exception}"),
                None => id.clone(),
            }],
            Expr::And(items) | Expr::Or(items) => items.iter().flat_map(Expr::licenses).collect(),
        }
    }

    /// The expression in strict SPDX syntax (`/` written `OR`), for the SBOM.
    pub fn render(&self) -> String {
        match self {
            Expr::License { .. } => self.licenses().remove(0),
            Expr::And(items) => items
                .iter()
                .map(|e| match e {
                    Expr::Or(_) => format!("({})", e.render()),
                    _ => e.render(),
                })
                .collect::<Vec<_>>()
                .join(" AND "),
            Expr::Or(items) => items
                .iter()
                .map(Expr::render)
                .collect::<Vec<_>>()
                .join(" OR "),
        }
    }
}

fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '(' | ')' | '/') {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<&str> {
        self.at += 1;
        self.tokens.get(self.at - 1).map(String::as_str)
    }

    fn is(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|t| t.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.is("OR") || self.peek() == Some("/") {
            self.next();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.atom()?];
        while self.is("AND") {
            self.next();
            items.push(self.atom()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn atom(&mut self) -> Result<Expr, String> {
        if self.peek() == Some("(") {
            self.next();
            let inner = self.or()?;
            return match self.next() {
                Some(")") => Ok(inner),
                _ => Err("unclosed `(`".into()),
            };
        }
        let id = self.identifier("a licence")?;
        let exception = if self.is("WITH") {
            self.next();
            Some(self.identifier("an exception after WITH")?)
        } else {
            None
        };
        Ok(Expr::License { id, exception })
    }

    fn identifier(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(t)
                if !matches!(t, "(" | ")" | "/")
                    && !["AND", "OR", "WITH"]
                        .iter()
                        .any(|k| t.eq_ignore_ascii_case(k)) =>
            {
                Ok(t.to_string())
            }
            Some(t) => Err(format!("expected {what}, found `{t}`")),
            None => Err(format!("expected {what}, found the end")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(id: &str) -> Expr {
        Expr::License {
            id: id.into(),
            exception: None,
        }
    }

    fn allow<'a>(list: &'a [&'a str]) -> impl Fn(&str, Option<&str>) -> bool + 'a {
        move |id, exception| {
            let wanted = match exception {
                Some(e) => format!("{id} WITH {e}"),
                None => id.to_string(),
            };
            list.contains(&wanted.as_str())
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        assert_eq!(
            parse("MIT OR Apache-2.0 AND ISC").unwrap(),
            Expr::Or(vec![
                license("MIT"),
                Expr::And(vec![license("Apache-2.0"), license("ISC")])
            ])
        );
        assert_eq!(
            parse("(MIT OR Apache-2.0) AND Unicode-3.0").unwrap(),
            Expr::And(vec![
                Expr::Or(vec![license("MIT"), license("Apache-2.0")]),
                license("Unicode-3.0")
            ])
        );
    }

    #[test]
    fn slash_is_or_and_with_attaches_an_exception() {
        assert_eq!(
            parse("MIT/Apache-2.0").unwrap(),
            parse("MIT OR Apache-2.0").unwrap()
        );
        assert_eq!(
            parse("Apache-2.0 / MIT").unwrap().render(),
            "Apache-2.0 OR MIT"
        );
        let with = parse("Apache-2.0 WITH LLVM-exception OR MIT").unwrap();
        assert_eq!(
            with.licenses(),
            vec!["Apache-2.0 WITH LLVM-exception", "MIT"]
        );
    }

    #[test]
    fn satisfiable_by_the_allow_list() {
        let list = ["MIT", "Apache-2.0", "Unicode-3.0"];
        let ok = |text: &str| parse(text).unwrap().satisfied(&allow(&list));
        assert!(ok("MIT OR ISC"));
        assert!(ok("(MIT OR Apache-2.0) AND Unicode-3.0"));
        assert!(!ok("ISC AND (Apache-2.0 OR ISC)"));
        assert!(!ok("MIT AND ISC"));
        // An exception makes another licence: Apache-2.0 alone does not allow it.
        assert!(!ok("Apache-2.0 WITH LLVM-exception"));
        assert!(
            parse("Apache-2.0 WITH LLVM-exception")
                .unwrap()
                .satisfied(&allow(&["Apache-2.0 WITH LLVM-exception"]))
        );
    }

    #[test]
    fn render_keeps_the_meaning() {
        for text in [
            "(MIT OR Apache-2.0) AND Unicode-3.0",
            "ISC AND (Apache-2.0 OR ISC) AND Apache-2.0",
            "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT",
        ] {
            assert_eq!(parse(text).unwrap().render(), text);
        }
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for text in [
            "", "MIT OR", "(MIT", "MIT)", "AND MIT", "MIT WITH", "MIT ISC",
        ] {
            assert!(parse(text).is_err(), "{text:?} parsed");
        }
    }
}
