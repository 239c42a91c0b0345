//! `#[payload(crate = "...")]` in a crate that depends on tandem only as `tandem_renamed`:
//! the default `extern crate tandem` would not resolve here, so these derives compile only if
//! the attribute is honoured.

#[cfg(test)]
mod tests {
    use tandem_renamed::Payload;

    #[derive(Payload, Debug, PartialEq)]
    #[payload(crate = "tandem_renamed")]
    struct ByCrateName {
        value: Vec<u16>,
    }

    mod reexport {
        pub(crate) use tandem_renamed as inner;
    }

    #[derive(Payload, Debug, PartialEq)]
    #[payload(crate = "crate::tests::reexport::inner")]
    enum ByModulePath {
        A(String),
        B,
    }

    #[test]
    fn derives_through_the_renamed_crate() {
        let value = ByCrateName { value: vec![1, 2] };
        let bytes = tandem_renamed::encode_to_vec(&value);
        assert_eq!(
            tandem_renamed::decode_from::<ByCrateName>(&bytes),
            Ok(value)
        );
        let value = ByModulePath::A("a".into());
        let bytes = tandem_renamed::encode_to_vec(&value);
        assert_eq!(
            tandem_renamed::decode_from::<ByModulePath>(&bytes),
            Ok(value)
        );
        assert_ne!(ByCrateName::FINGERPRINT, ByModulePath::FINGERPRINT);
    }
}
