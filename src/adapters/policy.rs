//! The default [`MailPolicy`]: mail goes to public internet addresses only,
//! unless the host allows more.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::CredentialRef;
use crate::ports::{MailPolicy, MailRefusal, OrganizationId};

/// How long [`DefaultMailPolicy`] waits for a host name to resolve by
/// default.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many addresses of one name are checked and returned.
const MAX_ADDRESSES: usize = 32;

type ResolveFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;
type Resolve = dyn Fn(String) -> ResolveFuture + Send + Sync;
type HasCredential = dyn Fn(&OrganizationId, &CredentialRef) -> bool + Send + Sync;

/// The default [`MailPolicy`]: an organization's mail goes only to hosts
/// whose every address is a public internet address, unless the host
/// operator allows more.
///
/// A host name is resolved once per check (by tokio's `lookup_host`, the
/// system resolver, unless [`with_resolver`](DefaultMailPolicy::with_resolver)
/// replaces it; a literal address such as `10.0.0.1` or `[::1]` is not
/// looked up). The name is refused when it does not resolve within the
/// lookup timeout, resolves to nothing, or resolves to **any** address in
/// one of these ranges (see [`DefaultMailPolicy::refused_range`]):
///
/// | IPv4 | IPv6 | what |
/// | --- | --- | --- |
/// | 0.0.0.0/8 | ::/128 | unspecified, "this network" |
/// | 127.0.0.0/8 | ::1/128 | loopback |
/// | 10/8, 172.16/12, 192.168/16 | fc00::/7 | private, unique-local |
/// | 169.254/16 | fe80::/10, fec0::/10 | link-local, site-local |
/// | 169.254.169.254 | fd00:ec2::254 | cloud metadata services |
/// | 100.64/10 | | shared address space (carrier-grade NAT) |
/// | 192.0.0/24 | 2001::/23 | IETF protocol assignments |
/// | 192.0.2/24, 198.51.100/24, 203.0.113/24 | 2001:db8::/32, 3fff::/20 | documentation |
/// | 198.18/15 | 100::/64 | benchmarking, discard |
/// | 192.88.99/24, 240/4, 255.255.255.255 | 64:ff9b:1::/48 | reserved, broadcast |
/// | 224/4 | ff00::/8 | multicast |
///
/// IPv6 addresses that carry an IPv4 address (IPv4-mapped `::ffff:0:0/96`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that IPv4
/// address; the deprecated IPv4-compatible `::/96` is refused, and so is
/// every other IPv6 address outside global unicast `2000::/3` (the
/// IPv4-translated `::ffff:0:0/96`, the reserved `::/8`, …) and Teredo
/// `2001::/32`, which hides the IPv4 address it reaches.
///
/// The host allows more with [`allowing`](DefaultMailPolicy::allowing)
/// (one address) and
/// [`allowing_network`](DefaultMailPolicy::allowing_network) (a range);
/// a metadata address is allowed only by naming it exactly.
///
/// Credentials: [`credential_exists`](MailPolicy::credential_exists) asks
/// the closure given to
/// [`with_credentials`](DefaultMailPolicy::with_credentials); without one,
/// no credential exists (settings with authentication are refused). The
/// [`SmtpMailer`](crate::SmtpMailer) answers from its own credential
/// resolver instead, so a host that uses it as the service's policy
/// configures secrets once.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
///
/// use org_accounts::{DefaultMailPolicy, MailPolicy, MailRefusal, OrganizationId};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let org = OrganizationId::new("acme")?;
/// let policy = DefaultMailPolicy::new();
/// let refused = policy.allowed_addresses(&org, "169.254.169.254", 25).await;
/// assert!(matches!(refused, Err(MailRefusal::HostNotAllowed { .. })));
///
/// // The host's own relay on loopback, explicitly allowed.
/// let policy = DefaultMailPolicy::new().allowing(IpAddr::V4(Ipv4Addr::LOCALHOST));
/// let allowed = policy.allowed_addresses(&org, "127.0.0.1", 2525).await?;
/// assert_eq!(allowed, ["127.0.0.1:2525".parse()?]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DefaultMailPolicy {
    resolve: Arc<Resolve>,
    allowed: Vec<Network>,
    credentials: Option<Arc<HasCredential>>,
    credentials_without_tls: bool,
    lookup_timeout: Duration,
}

impl Default for DefaultMailPolicy {
    fn default() -> Self {
        DefaultMailPolicy::new()
    }
}

impl fmt::Debug for DefaultMailPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultMailPolicy")
            .field("allowed", &self.allowed)
            .field("credentials_without_tls", &self.credentials_without_tls)
            .field("lookup_timeout", &self.lookup_timeout)
            .finish_non_exhaustive()
    }
}

impl DefaultMailPolicy {
    /// Public internet addresses only, resolved by the system resolver
    /// (tokio's `lookup_host`), no credentials.
    pub fn new() -> DefaultMailPolicy {
        DefaultMailPolicy {
            resolve: Arc::new(|host: String| -> ResolveFuture {
                Box::pin(async move {
                    let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
                    Ok(found.map(|a| a.ip()).collect())
                })
            }),
            allowed: Vec::new(),
            credentials: None,
            credentials_without_tls: false,
            lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
        }
    }

    /// Also allows `address` (for example the host's own relay on
    /// loopback, or a metadata address, which only an exact allowance
    /// lets through).
    pub fn allowing(self, address: IpAddr) -> DefaultMailPolicy {
        let full = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        self.allowing_network(address, full)
    }

    /// Also allows every address in `network/prefix_len` (for example
    /// `10.20.0.0/16` for the host's own mail relays). A prefix longer than
    /// the address counts as the whole address. Metadata addresses stay
    /// refused unless allowed by [`allowing`](DefaultMailPolicy::allowing).
    pub fn allowing_network(mut self, network: IpAddr, prefix_len: u8) -> DefaultMailPolicy {
        let full = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        self.allowed.push(Network {
            address: network,
            prefix: prefix_len.min(full),
        });
        self
    }

    /// Resolves host names with `resolve` instead of the system resolver
    /// (a host's own resolver; tests inject one so that no name is looked
    /// up and no connection is made).
    pub fn with_resolver<F, Fut>(mut self, resolve: F) -> DefaultMailPolicy
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<Vec<IpAddr>>> + Send + 'static,
    {
        self.resolve = Arc::new(move |host| -> ResolveFuture { Box::pin(resolve(host)) });
        self
    }

    /// Answers [`credential_exists`](MailPolicy::credential_exists) with
    /// `exists(org, reference)`, which must say whether the host holds that
    /// secret **for that organization**.
    pub fn with_credentials(
        mut self,
        exists: impl Fn(&OrganizationId, &CredentialRef) -> bool + Send + Sync + 'static,
    ) -> DefaultMailPolicy {
        self.credentials = Some(Arc::new(exists));
        self
    }

    /// Lets credentials go without TLS to addresses the host allowed
    /// explicitly ([`allowing`](DefaultMailPolicy::allowing),
    /// [`allowing_network`](DefaultMailPolicy::allowing_network)), such as
    /// its own relay on loopback; never to any other address.
    pub fn allowing_credentials_without_tls(mut self) -> DefaultMailPolicy {
        self.credentials_without_tls = true;
        self
    }

    /// How long a name may take to resolve (default
    /// [`DEFAULT_LOOKUP_TIMEOUT`]); a name that takes longer is refused.
    pub fn with_lookup_timeout(mut self, timeout: Duration) -> DefaultMailPolicy {
        self.lookup_timeout = timeout;
        self
    }

    /// The range that makes the default policy refuse `address` (before
    /// any allowance), or `None` for a public address.
    ///
    /// ```
    /// use org_accounts::DefaultMailPolicy;
    ///
    /// assert_eq!(DefaultMailPolicy::refused_range("10.1.2.3".parse()?), Some("private"));
    /// assert_eq!(DefaultMailPolicy::refused_range("169.254.169.254".parse()?), Some("metadata"));
    /// assert_eq!(DefaultMailPolicy::refused_range("::ffff:127.0.0.1".parse()?), Some("loopback"));
    /// assert_eq!(DefaultMailPolicy::refused_range("8.8.8.8".parse()?), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refused_range(address: IpAddr) -> Option<&'static str> {
        match address {
            IpAddr::V4(v4) => v4_range(v4),
            IpAddr::V6(v6) => v6_range(v6),
        }
    }

    /// Whether the host allowed `address` explicitly.
    fn explicitly_allowed(&self, address: IpAddr) -> bool {
        let metadata = Self::refused_range(address) == Some("metadata");
        self.allowed
            .iter()
            .any(|n| n.contains(address) && (!metadata || n.prefix == n.full_prefix()))
    }

    fn permits(&self, address: IpAddr) -> bool {
        self.explicitly_allowed(address) || Self::refused_range(address).is_none()
    }

    async fn resolve(&self, host: &str) -> Option<Vec<IpAddr>> {
        if let Some(literal) = literal_address(host) {
            return Some(vec![literal]);
        }
        if host.is_empty() {
            return None;
        }
        let lookup = (self.resolve)(host.to_owned());
        match tokio::time::timeout(self.lookup_timeout, lookup).await {
            Ok(Ok(found)) => Some(found),
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

impl MailPolicy for DefaultMailPolicy {
    async fn allowed_addresses(
        &self,
        _org: &OrganizationId,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, MailRefusal> {
        let host = host.trim();
        let refused = || MailRefusal::host_not_allowed(host);
        let found = self.resolve(host).await.ok_or_else(refused)?;
        // Every address must be allowed: the transport may pick any of
        // them, and a name that mixes a public address with an internal
        // one is an attempt to get past a check.
        if found.is_empty() || !found.iter().all(|a| self.permits(*a)) {
            return Err(refused());
        }
        let mut seen = BTreeSet::new();
        Ok(found
            .into_iter()
            .filter(|a| seen.insert(*a))
            .take(MAX_ADDRESSES)
            .map(|a| SocketAddr::new(a, port))
            .collect())
    }

    async fn credential_exists(&self, org: &OrganizationId, reference: &CredentialRef) -> bool {
        self.credentials
            .as_ref()
            .is_some_and(|exists| exists(org, reference))
    }

    fn allows_credentials_without_tls(&self, address: SocketAddr) -> bool {
        self.credentials_without_tls && self.explicitly_allowed(address.ip())
    }
}

/// `host` as a literal address: `10.0.0.1`, `::1` or `[::1]`.
fn literal_address(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// An address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn full_prefix(&self) -> u8 {
        match self.address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address) {
            (IpAddr::V4(net), IpAddr::V4(a)) => within(
                u128::from(u32::from(net)),
                u128::from(u32::from(a)),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                within(u128::from(net), u128::from(a), self.prefix, 128)
            }
            // An IPv4 allowance also covers the same address mapped into
            // IPv6 (`::ffff:a.b.c.d`), and the other way round.
            (IpAddr::V4(_), IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            (IpAddr::V6(net), IpAddr::V4(a)) => net.to_ipv4_mapped().is_some_and(|v4| {
                Network {
                    address: IpAddr::V4(v4),
                    prefix: self.prefix.saturating_sub(96),
                }
                .contains(IpAddr::V4(a))
            }),
        }
    }
}

/// Whether `address` is in `network/prefix`, both `bits` wide.
fn within(network: u128, address: u128, prefix: u8, bits: u8) -> bool {
    let prefix = prefix.min(bits);
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    network.checked_shr(shift) == address.checked_shr(shift)
}

const V4_RANGES: &[([u8; 4], u8, &str)] = &[
    ([169, 254, 169, 254], 32, "metadata"),
    ([0, 0, 0, 0], 8, "unspecified"),
    ([10, 0, 0, 0], 8, "private"),
    ([100, 64, 0, 0], 10, "shared address space"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local"),
    ([172, 16, 0, 0], 12, "private"),
    ([192, 0, 0, 0], 24, "protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "reserved"),
    ([192, 168, 0, 0], 16, "private"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

fn v4_range(address: Ipv4Addr) -> Option<&'static str> {
    if address == Ipv4Addr::BROADCAST {
        return Some("broadcast");
    }
    let a = u128::from(u32::from(address));
    V4_RANGES
        .iter()
        .find(|(net, prefix, _)| within(u128::from(u32::from_be_bytes(*net)), a, *prefix, 32))
        .map(|(_, _, what)| *what)
}

const V6_RANGES: &[(u128, u8, &str)] = &[
    (0xfd00_0ec2_0000_0000_0000_0000_0000_0254, 128, "metadata"),
    (0, 128, "unspecified"),
    (1, 128, "loopback"),
    (0, 96, "IPv4-compatible"),
    (0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48, "reserved"),
    (0x0100_0000_0000_0000_0000_0000_0000_0000, 64, "discard"),
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        "documentation",
    ),
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        23,
        "protocol assignments",
    ),
    (
        0x3fff_0000_0000_0000_0000_0000_0000_0000,
        20,
        "documentation",
    ),
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7, "unique-local"),
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10, "link-local"),
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10, "site-local"),
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8, "multicast"),
];

/// NAT64's well-known prefix, 64:ff9b::/96.
const NAT64: u128 = 0x0064_ff9b_0000_0000_0000_0000_0000_0000;
/// 6to4, 2002::/16.
const SIX_TO_FOUR: u128 = 0x2002_0000_0000_0000_0000_0000_0000_0000;

fn v6_range(address: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = address.to_ipv4_mapped() {
        return v4_range(v4);
    }
    let a = u128::from(address);
    let embedded = |bits: u128| Ipv4Addr::from(u32::try_from(bits & 0xffff_ffff).unwrap_or(0));
    if within(NAT64, a, 96, 128) {
        return v4_range(embedded(a));
    }
    if within(SIX_TO_FOUR, a, 16, 128) {
        return v4_range(embedded(a >> 80));
    }
    if let Some((_, _, what)) = V6_RANGES
        .iter()
        .find(|(net, prefix, _)| within(*net, a, *prefix, 128))
    {
        return Some(what);
    }
    // Everything else must be global unicast (2000::/3), where every public
    // IPv6 address lives: the rest (IPv4-translated ::ffff:0:0/96, the
    // reserved ::/8, discard-only and other special prefixes) is refused
    // whatever IPv4 address it may carry.
    if !within(GLOBAL_UNICAST, a, 3, 128) {
        return Some("not a global unicast address");
    }
    if within(TEREDO, a, 32, 128) {
        return Some("Teredo (it hides the IPv4 address it reaches)");
    }
    None
}

/// Global unicast, 2000::/3.
const GLOBAL_UNICAST: u128 = 0x2000_0000_0000_0000_0000_0000_0000_0000;
/// Teredo, 2001::/32.
const TEREDO: u128 = 0x2001_0000_0000_0000_0000_0000_0000_0000;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn range(text: &str) -> Option<&'static str> {
        DefaultMailPolicy::refused_range(text.parse().unwrap())
    }

    #[test]
    fn ranges() {
        for (address, expected) in [
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("10.0.0.1", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("metadata")),
            ("169.254.1.1", Some("link-local")),
            ("100.64.0.1", Some("shared address space")),
            ("100.128.0.1", None),
            ("0.0.0.0", Some("unspecified")),
            ("255.255.255.255", Some("broadcast")),
            ("224.0.0.1", Some("multicast")),
            ("192.0.2.1", Some("documentation")),
            ("8.8.8.8", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fe80::1", Some("link-local")),
            ("fd00:ec2::254", Some("metadata")),
            ("fd12::1", Some("unique-local")),
            ("fc00::1", Some("unique-local")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("documentation")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:8.8.8.8", None),
            ("::10.0.0.1", Some("IPv4-compatible")),
            ("64:ff9b::a9fe:a9fe", Some("metadata")),
            ("64:ff9b::808:808", None),
            ("2002:7f00:1::", Some("loopback")),
            ("2002:808:808::", None),
            ("2606:4700::1111", None),
            // Outside global unicast, whatever they carry.
            ("::ffff:0:7f00:1", Some("not a global unicast address")),
            ("::2:0:0:1", Some("not a global unicast address")),
            ("100::1", Some("discard")),
            ("2001::5efe:7f00:1", Some("protocol assignments")),
        ] {
            assert_eq!(range(address), expected, "{address}");
        }
    }

    #[test]
    fn allowances() {
        let policy = DefaultMailPolicy::new()
            .allowing("127.0.0.1".parse().unwrap())
            .allowing_network("10.20.0.0".parse().unwrap(), 16)
            .allowing_network("169.254.0.0".parse().unwrap(), 16);
        assert!(policy.permits("127.0.0.1".parse().unwrap()));
        assert!(policy.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!policy.permits("127.0.0.2".parse().unwrap()));
        assert!(policy.permits("10.20.3.4".parse().unwrap()));
        assert!(!policy.permits("10.21.0.1".parse().unwrap()));
        assert!(policy.permits("169.254.1.1".parse().unwrap()));
        assert!(
            !policy.permits("169.254.169.254".parse().unwrap()),
            "metadata needs an exact allowance"
        );
        let exact = policy.allowing("169.254.169.254".parse().unwrap());
        assert!(exact.permits("169.254.169.254".parse().unwrap()));
    }
}
