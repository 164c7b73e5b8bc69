//! The KPI formula language: a hand-written recursive-descent parser over exact decimals.
//!
//! Grammar (whitespace ignored):
//! ```text
//! expr    := term (("+" | "-") term)*
//! term    := unary (("*" | "/") unary)*
//! unary   := "-" unary | primary
//! primary := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"
//! number  := digits ["." digits]        (underscores allowed as separators: 30_000)
//! name    := [A-Za-z_][A-Za-z0-9_]*     (a measure, a constant or another KPI)
//! ```
//! Functions: `sum(e)`, `avg(e)` (over the months of the period), `prev_year(e)`,
//! `min(a, b, ..)`, `max(a, b, ..)`, `pow(x, y)`, `abs(x)`.

use std::str::FromStr;

use rust_decimal::Decimal;

/// Arithmetic operator of a binary node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// Built-in functions. Kept as a closed enum so an unknown name is a load error, not a runtime one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    /// Sum of the argument evaluated at each month of the period (months without a value are skipped).
    Sum,
    /// Mean of the argument over the months of the period that have a value.
    Avg,
    /// The argument evaluated at the same period one year earlier.
    PrevYear,
    Min,
    Max,
    /// `pow(x, y)`: exact for integer `y`, Newton root for rational `y` (see [`crate::kpi::eval`]).
    Pow,
    Abs,
}

impl Func {
    fn lookup(name: &str) -> Option<Func> {
        Some(match name {
            "sum" => Func::Sum,
            "avg" => Func::Avg,
            "prev_year" => Func::PrevYear,
            "min" => Func::Min,
            "max" => Func::Max,
            "pow" => Func::Pow,
            "abs" => Func::Abs,
            _ => return None,
        })
    }

    /// Allowed argument counts (min, max).
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Sum | Func::Avg | Func::PrevYear | Func::Abs => (1, 1),
            Func::Pow => (2, 2),
            Func::Min | Func::Max => (2, usize::MAX),
        }
    }
}

/// What a name in a formula refers to; filled in by the config loader after parsing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Unresolved,
    Measure,
    Constant(Decimal),
    /// Index into `KpiConfig::kpis`.
    Kpi(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Num(Decimal),
    Ref {
        name: String,
        /// 1-based character column in the formula, for error messages.
        pos: usize,
        target: Target,
    },
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

/// A syntax error at a 1-based character column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) pos: usize,
    pub(crate) msg: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Decimal),
    Name(String),
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    Comma,
    End,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            out.push((t, pos));
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let n = Decimal::from_str(&text).map_err(|_| ParseError {
                pos,
                msg: format!("bad number `{text}`"),
            })?;
            out.push((Tok::Num(n), pos));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Name(chars[start..i].iter().collect()), pos));
        } else {
            return Err(ParseError {
                pos,
                msg: format!("unexpected character `{c}`"),
            });
        }
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }

    fn pos(&self) -> usize {
        self.toks[self.at].1
    }

    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            pos: self.pos(),
            msg: msg.into(),
        })
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.term()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => Op::Add,
                Tok::Minus => Op::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.term()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => Op::Mul,
                Tok::Slash => Op::Div,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.unary()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if *self.peek() == Tok::Minus {
            self.bump();
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let (tok, pos) = self.bump();
        match tok {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::LParen => {
                let e = self.expr()?;
                if *self.peek() != Tok::RParen {
                    return self.err("expected `)`");
                }
                self.bump();
                Ok(e)
            }
            Tok::Name(name) => {
                if *self.peek() != Tok::LParen {
                    return Ok(Expr::Ref {
                        name,
                        pos,
                        target: Target::Unresolved,
                    });
                }
                let Some(func) = Func::lookup(&name) else {
                    return Err(ParseError {
                        pos,
                        msg: format!("unknown function `{name}`"),
                    });
                };
                self.bump();
                let mut args = vec![self.expr()?];
                while *self.peek() == Tok::Comma {
                    self.bump();
                    args.push(self.expr()?);
                }
                if *self.peek() != Tok::RParen {
                    return self.err("expected `,` or `)`");
                }
                self.bump();
                let (lo, hi) = func.arity();
                if args.len() < lo || args.len() > hi {
                    return Err(ParseError {
                        pos,
                        msg: format!(
                            "`{name}` takes {} argument(s), got {}",
                            arity_text(lo, hi),
                            args.len()
                        ),
                    });
                }
                Ok(Expr::Call(func, args))
            }
            Tok::End => Err(ParseError {
                pos,
                msg: "unexpected end of formula".into(),
            }),
            other => Err(ParseError {
                pos,
                msg: format!("unexpected {}", tok_text(&other)),
            }),
        }
    }
}

fn arity_text(lo: usize, hi: usize) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("at least {lo}")
    }
}

fn tok_text(t: &Tok) -> &'static str {
    match t {
        Tok::Plus => "`+`",
        Tok::Minus => "`-`",
        Tok::Star => "`*`",
        Tok::Slash => "`/`",
        Tok::LParen => "`(`",
        Tok::RParen => "`)`",
        Tok::Comma => "`,`",
        Tok::Num(_) | Tok::Name(_) | Tok::End => "token",
    }
}

/// Parses a whole formula; trailing tokens are an error.
pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        toks: lex(src)?,
        at: 0,
    };
    let e = p.expr()?;
    if *p.peek() != Tok::End {
        return p.err("unexpected trailing input");
    }
    Ok(e)
}

impl Expr {
    /// Visits every name reference mutably (used to resolve and to collect dependencies).
    pub(crate) fn refs_mut(&mut self, f: &mut dyn FnMut(&str, usize, &mut Target)) {
        match self {
            Expr::Num(_) => {}
            Expr::Ref { name, pos, target } => f(name, *pos, target),
            Expr::Neg(e) => e.refs_mut(f),
            Expr::Bin(_, a, b) => {
                a.refs_mut(f);
                b.refs_mut(f);
            }
            Expr::Call(_, args) => args.iter_mut().for_each(|a| a.refs_mut(f)),
        }
    }

    /// Visits every resolved reference.
    pub(crate) fn refs(&self, f: &mut dyn FnMut(&str, &Target)) {
        match self {
            Expr::Num(_) => {}
            Expr::Ref { name, target, .. } => f(name, target),
            Expr::Neg(e) => e.refs(f),
            Expr::Bin(_, a, b) => {
                a.refs(f);
                b.refs(f);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.refs(f)),
        }
    }
}
