//! Money is an integer count of a currency's minor unit plus its ISO 4217 code; never a
//! float. The exponent (digits after the decimal point) comes from ISO 4217.

use serde::Serialize;
use std::fmt;

/// An ISO 4217 currency this system accepts, with its minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "&'static str")]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

/// ISO 4217 codes and exponents of the currencies card schemes settle most.
#[rustfmt::skip]
const ISO_4217: [(&str, u32); 38] = [
    ("AED", 2), ("AUD", 2), ("BHD", 3), ("BRL", 2), ("CAD", 2), ("CHF", 2), ("CLP", 0),
    ("CNY", 2), ("CZK", 2), ("DKK", 2), ("EUR", 2), ("GBP", 2), ("HKD", 2), ("HUF", 2),
    ("IDR", 2), ("ILS", 2), ("INR", 2), ("ISK", 0), ("JOD", 3), ("JPY", 0), ("KRW", 0),
    ("KWD", 3), ("MXN", 2), ("MYR", 2), ("NOK", 2), ("NZD", 2), ("OMR", 3), ("PLN", 2),
    ("SAR", 2), ("SEK", 2), ("SGD", 2), ("THB", 2), ("TND", 3), ("TRY", 2), ("TWD", 2),
    ("USD", 2), ("VND", 0), ("ZAR", 2),
];

impl Currency {
    /// The currency for an upper-case ISO 4217 code, if this system knows it.
    pub fn from_code(code: &str) -> Option<Currency> {
        ISO_4217
            .iter()
            .find(|(known, _)| *known == code)
            .map(|&(code, exponent)| Currency { code, exponent })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(self) -> u32 {
        self.exponent
    }
}

impl From<Currency> for &'static str {
    fn from(currency: Currency) -> Self {
        currency.code
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// An amount in minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: u64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: u64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// The amount written in major units with the currency's digits: `12.34`, `1200`, `1.005`.
    pub fn major_units(self) -> String {
        let exponent = self.currency.exponent;
        if exponent == 0 {
            return self.minor.to_string();
        }
        let scale = 10u64.pow(exponent);
        format!(
            "{}.{:0width$}",
            self.minor / scale,
            self.minor % scale,
            width = exponent as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.major_units(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(minor: u64, code: &str) -> Money {
        Money::new(minor, Currency::from_code(code).unwrap())
    }

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::from_code("EUR").unwrap().exponent(), 2);
        assert_eq!(Currency::from_code("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::from_code("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::from_code("eur"), None);
        assert_eq!(Currency::from_code("XXX"), None);
    }

    #[test]
    fn every_accepted_currency_round_trips_through_its_iso_4217_code() {
        for (code, exponent) in ISO_4217 {
            let currency = Currency::from_code(code).unwrap();
            let back: &'static str = currency.into();
            assert_eq!(back, code);
            assert_eq!((currency.code(), currency.exponent()), (code, exponent));
            // Stored and sent as the bare code (serde goes through the same conversion).
            assert_eq!(serde_json::to_value(currency).unwrap(), code);
            assert_eq!(currency.to_string(), code);
        }
    }

    #[test]
    fn major_units_use_the_currency_digits() {
        assert_eq!(money(1234, "EUR").to_string(), "12.34 EUR");
        assert_eq!(money(5, "USD").major_units(), "0.05");
        assert_eq!(money(1200, "JPY").major_units(), "1200");
        assert_eq!(money(1005, "KWD").major_units(), "1.005");
    }
}
