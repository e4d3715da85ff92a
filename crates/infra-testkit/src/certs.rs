//! Test certificates generated with rcgen: a private CA, a server certificate for
//! `localhost` and 127.0.0.1, a client certificate, and the "wrong" material that TLS tests
//! must see refused (an unrelated CA, a server certificate for another host name, a client
//! certificate from the unrelated CA).
//!
//! Everything is written as PEM files into a temporary directory that lives as long as the
//! [`TestCerts`]; the PEM text is also available in memory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::process::write_file;

/// The host name of the [`TestCerts::wrong_host_cert`]: no client ever connects to it.
pub const WRONG_HOST: &str = "not-localhost.invalid";

/// A certificate and its private key, as PEM text and files.
#[derive(Debug, Clone)]
pub struct CertPair {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
    /// The file holding [`cert_pem`](Self::cert_pem).
    pub cert_file: PathBuf,
    /// The file holding [`key_pem`](Self::key_pem).
    pub key_file: PathBuf,
}

/// A private PKI for one test run (see the [module docs](self)).
///
/// | file | what |
/// |---|---|
/// | `ca.pem` | the CA that signs every certificate below except the untrusted client |
/// | `server.pem`, `server.key` | server certificate for DNS `localhost` and IP `127.0.0.1` |
/// | `client.pem`, `client.key` | client certificate (mutual TLS) |
/// | `wrong-ca.pem` | an unrelated CA: trusting only it must refuse the server |
/// | `wrong-host.pem`, `wrong-host.key` | server certificate (from `ca.pem`) for [`WRONG_HOST`] only |
/// | `untrusted-client.pem`, `untrusted-client.key` | client certificate signed by the wrong CA |
#[derive(Debug)]
pub struct TestCerts {
    ca: CertPair,
    server: CertPair,
    client: CertPair,
    wrong_ca: CertPair,
    wrong_host: CertPair,
    untrusted_client: CertPair,
    dir: TempDir,
}

impl TestCerts {
    /// Generates every certificate and writes them into a new temporary directory.
    pub fn generate() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("infra-testkit-certs-")
            .tempdir()
            .map_err(|e| Error::new(format!("cannot create a temporary directory: {e}")))?;
        let path = dir.path();

        let (ca, ca_issuer) = new_ca("infra-testkit test CA", path, "ca")?;
        let (wrong_ca, wrong_issuer) = new_ca("infra-testkit unrelated CA", path, "wrong-ca")?;
        let server = new_leaf(
            &ca_issuer,
            "localhost",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            path,
            "server",
        )?;
        let client = new_leaf(
            &ca_issuer,
            "infra-testkit client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            path,
            "client",
        )?;
        let wrong_host = new_leaf(
            &ca_issuer,
            WRONG_HOST,
            &[WRONG_HOST],
            ExtendedKeyUsagePurpose::ServerAuth,
            path,
            "wrong-host",
        )?;
        let untrusted_client = new_leaf(
            &wrong_issuer,
            "infra-testkit untrusted client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            path,
            "untrusted-client",
        )?;
        Ok(Self {
            ca,
            server,
            client,
            wrong_ca,
            wrong_host,
            untrusted_client,
            dir,
        })
    }

    /// The directory holding every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The trusted CA (`ca.pem`; its key file is written too).
    pub fn ca(&self) -> &CertPair {
        &self.ca
    }

    /// The trusted CA's certificate file: what a client needs to verify the server.
    pub fn ca_file(&self) -> &Path {
        &self.ca.cert_file
    }

    /// The server certificate for `localhost` and `127.0.0.1`, signed by the CA.
    pub fn server(&self) -> &CertPair {
        &self.server
    }

    /// The client certificate signed by the CA (for mutual TLS).
    pub fn client(&self) -> &CertPair {
        &self.client
    }

    /// An unrelated CA: a client trusting only this CA must refuse the server.
    pub fn wrong_ca(&self) -> &CertPair {
        &self.wrong_ca
    }

    /// The unrelated CA's certificate file.
    pub fn wrong_ca_file(&self) -> &Path {
        &self.wrong_ca.cert_file
    }

    /// A server certificate signed by the trusted CA but for [`WRONG_HOST`] only: a client
    /// connecting to 127.0.0.1 or `localhost` must refuse it.
    pub fn wrong_host_cert(&self) -> &CertPair {
        &self.wrong_host
    }

    /// A client certificate signed by the unrelated CA: a server requiring client
    /// certificates must refuse it.
    pub fn untrusted_client(&self) -> &CertPair {
        &self.untrusted_client
    }
}

fn generation(what: &str, err: &rcgen::Error) -> Error {
    Error::new(format!("cannot generate the {what}: {err}"))
}

fn write_pair(dir: &Path, stem: &str, cert_pem: String, key: &KeyPair) -> Result<CertPair> {
    let cert_file = dir.join(format!("{stem}.pem"));
    let key_file = dir.join(format!("{stem}.key"));
    let key_pem = key.serialize_pem();
    write_file(&cert_file, cert_pem.as_bytes())?;
    write_file(&key_file, key_pem.as_bytes())?;
    Ok(CertPair {
        cert_pem,
        key_pem,
        cert_file,
        key_file,
    })
}

fn new_ca(name: &str, dir: &Path, stem: &str) -> Result<(CertPair, Issuer<'static, KeyPair>)> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(|e| generation("CA key", &e))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| generation("CA certificate", &e))?;
    let pair = write_pair(dir, stem, cert.pem(), &key)?;
    Ok((pair, Issuer::new(params, key)))
}

fn new_leaf(
    issuer: &Issuer<'static, KeyPair>,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    dir: &Path,
    stem: &str,
) -> Result<CertPair> {
    let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
    let mut params =
        CertificateParams::new(names).map_err(|e| generation(&format!("{stem} names"), &e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().map_err(|e| generation(&format!("{stem} key"), &e))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|e| generation(&format!("{stem} certificate"), &e))?;
    write_pair(dir, stem, cert.pem(), &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_written_as_pem() {
        let certs = TestCerts::generate().unwrap();
        for pair in [
            certs.ca(),
            certs.server(),
            certs.client(),
            certs.wrong_ca(),
            certs.wrong_host_cert(),
            certs.untrusted_client(),
        ] {
            let cert = std::fs::read_to_string(&pair.cert_file).unwrap();
            let key = std::fs::read_to_string(&pair.key_file).unwrap();
            assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
            assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
            assert_eq!(cert, pair.cert_pem);
            assert!(pair.cert_file.starts_with(certs.dir()));
        }
        assert_eq!(certs.ca_file(), certs.dir().join("ca.pem"));
        assert_ne!(certs.ca().cert_pem, certs.wrong_ca().cert_pem);
    }

    #[test]
    fn the_directory_goes_away_with_the_certs() {
        let certs = TestCerts::generate().unwrap();
        let dir = certs.dir().to_path_buf();
        drop(certs);
        assert!(!dir.exists());
    }
}
