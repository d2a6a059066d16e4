//! ISO 4217: the active currency codes used for trade (funds, precious
//! metals, bond units and the testing and "no currency" codes left out).

const CODES: &str = "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR \
FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES \
KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR \
MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR \
SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH \
UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

pub fn is_code(code: &str) -> bool {
    code.len() == 3 && CODES.split_ascii_whitespace().any(|c| c == code)
}

pub fn codes() -> impl Iterator<Item = &'static str> {
    CODES.split_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    #[test]
    fn knows_the_trade_codes_only() {
        assert_eq!(super::codes().count(), 156);
        assert!(super::is_code("EUR") && super::is_code("USD") && super::is_code("JPY"));
        assert!(!super::is_code("XXX") && !super::is_code("eur") && !super::is_code("HRK"));
    }
}
