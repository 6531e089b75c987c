//! Certificates made with rcgen at test time: a test CA, leaf
//! certificates described by a [`LeafSpec`] (server or client, key type,
//! SANs), and the PEM files a proxy config points at.

use std::net::IpAddr;
use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TempDir;

/// Key algorithms rcgen generates with ring (RSA keys come from openssl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    P256,
    P384,
    Ed25519,
}

impl Alg {
    fn rcgen(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Alg::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Alg::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Alg::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

/// What a leaf certificate says.
pub struct LeafSpec {
    pub cn: String,
    pub org: Option<String>,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub uris: Vec<String>,
    pub alg: Alg,
    /// Extended key usage clientAuth (else serverAuth).
    pub client: bool,
    /// Use this key instead of generating one with `alg` (e.g. RSA).
    pub key: Option<KeyPair>,
}

impl LeafSpec {
    /// A server certificate with DNS (or IP, when they parse) SANs.
    pub fn server(cn: &str, names: &[&str]) -> LeafSpec {
        let mut spec = LeafSpec {
            cn: cn.to_owned(),
            org: None,
            dns: Vec::new(),
            ips: Vec::new(),
            uris: Vec::new(),
            alg: Alg::P256,
            client: false,
            key: None,
        };
        for n in names {
            match n.parse::<IpAddr>() {
                Ok(ip) => spec.ips.push(ip),
                Err(_) => spec.dns.push((*n).to_owned()),
            }
        }
        spec
    }

    /// A client certificate `CN=cn` without SANs.
    pub fn client(cn: &str) -> LeafSpec {
        LeafSpec {
            client: true,
            ..LeafSpec::server(cn, &[])
        }
    }

    pub fn org(mut self, org: &str) -> LeafSpec {
        self.org = Some(org.to_owned());
        self
    }

    pub fn dns(mut self, name: &str) -> LeafSpec {
        self.dns.push(name.to_owned());
        self
    }

    pub fn uri(mut self, uri: &str) -> LeafSpec {
        self.uris.push(uri.to_owned());
        self
    }

    pub fn alg(mut self, alg: Alg) -> LeafSpec {
        self.alg = alg;
        self
    }

    pub fn key(mut self, key: KeyPair) -> LeafSpec {
        self.key = Some(key);
        self
    }
}

/// An issued certificate and its private key.
pub struct Issued {
    pub der: CertificateDer<'static>,
    pub cert_pem: String,
    /// PKCS#8 PEM (`PRIVATE KEY`).
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

/// Where a certificate and its key were written.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Issued {
    /// Writes `<stem>.pem` and `<stem>.key` into `dir`.
    pub fn write(&self, dir: &TempDir, stem: &str) -> CertFiles {
        CertFiles {
            cert: dir.write(&format!("{stem}.pem"), &self.cert_pem),
            key: dir.write(&format!("{stem}.key"), &self.key_pem),
        }
    }

    /// Overwrites existing files in place (same inode).
    pub fn overwrite(&self, files: &CertFiles) {
        std::fs::write(&files.cert, &self.cert_pem).unwrap();
        std::fs::write(&files.key, &self.key_pem).unwrap();
    }

    /// The private key for rustls.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// Lower-case hex SHA-256 of the certificate's DER.
    pub fn sha256_hex(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, self.der.as_ref());
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A test certificate authority (ECDSA P-256).
pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub der: CertificateDer<'static>,
    pub pem: String,
}

impl Ca {
    pub fn new(cn: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            der: cert.der().clone(),
            pem: cert.pem(),
            params,
            key,
        }
    }

    /// Writes the CA certificate to `<dir>/<name>`.
    pub fn write(&self, dir: &TempDir, name: &str) -> PathBuf {
        dir.write(name, &self.pem)
    }

    /// A root store trusting only this CA.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        roots
    }

    /// Issues a leaf certificate signed by this CA.
    pub fn issue(&self, spec: LeafSpec) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, spec.cn);
        if let Some(org) = spec.org {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        for d in spec.dns {
            params
                .subject_alt_names
                .push(SanType::DnsName(d.try_into().unwrap()));
        }
        for ip in spec.ips {
            params.subject_alt_names.push(SanType::IpAddress(ip));
        }
        for u in spec.uris {
            params
                .subject_alt_names
                .push(SanType::URI(u.try_into().unwrap()));
        }
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if spec.client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = match spec.key {
            Some(k) => k,
            None => KeyPair::generate_for(spec.alg.rcgen()).unwrap(),
        };
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Issued {
            der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}
