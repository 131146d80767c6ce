//! Services, roles and licenses.

use org_accounts::{
    Assignee, Command, LicenseKind, LicenseSource, MemberLicenses, Organization, RoleName,
    RoleSource, ServiceName, Store,
};
use serde_json::{Value, json};

use crate::args::{email, group_name};
use crate::cli::RoleArgs;
use crate::shown::shown;
use crate::{App, Failure, Output, plural};

fn service_name(text: &str) -> Result<ServiceName, Failure> {
    ServiceName::parse(text).map_err(|e| Failure::refused("invalid_name", e))
}

fn role_name(text: &str) -> Result<RoleName, Failure> {
    RoleName::parse(text).map_err(|e| Failure::refused("invalid_name", e))
}

fn kind(text: &str) -> Result<LicenseKind, Failure> {
    LicenseKind::parse(text).map_err(|e| Failure::refused("invalid_name", e))
}

/// What a member waits for, in words (JSON keeps the code).
pub(crate) fn wait_words(code: &str) -> &str {
    match code {
        "next_sign_in" => "at their next sign-in",
        "no_free_seat" => "no free seat",
        "quota_full" => "the group's quota is used up",
        other => other,
    }
}

fn group_label(org: &Organization, id: org_accounts::GroupId) -> String {
    org.group_by_id(id)
        .map_or_else(|| id.to_string(), |g| g.name().to_string())
}

impl<S: Store + 'static> App<S> {
    pub(crate) async fn service_add(
        &self,
        actor: &str,
        name: &str,
        roles: &[String],
        admin_role: &str,
        defaults: &[(String, String)],
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let roles = roles
            .iter()
            .map(|r| role_name(r))
            .collect::<Result<Vec<_>, _>>()?;
        let admin_role = role_name(admin_role)?;
        let default_roles = defaults
            .iter()
            .map(|(group, role)| Ok((group_name(group)?, role_name(role)?)))
            .collect::<Result<Vec<_>, Failure>>()?;
        let name = service_name(name)?;
        self.execute(
            &Command::AddService {
                name: name.clone(),
                roles,
                admin_role,
                default_roles,
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!("added service {name}; default groups got their default roles\n"),
            json: json!({"service": name.as_str()}),
        })
    }

    pub(crate) async fn role_change(
        &self,
        args: RoleArgs,
        assign: bool,
    ) -> Result<Output, Failure> {
        let actor = email(&args.actor.actor)?;
        let who = match (args.to.group, args.to.user) {
            (Some(g), _) => Assignee::Group(group_name(&g)?),
            (None, Some(u)) => Assignee::User(email(&u)?),
            (None, None) => {
                return Err(Failure::usage(
                    &["role"],
                    "give one of --group NAME or --user EMAIL",
                ));
            }
        };
        let (service, role) = (service_name(&args.service)?, role_name(&args.role)?);
        let command = if assign {
            Command::AssignRole {
                service: service.clone(),
                to: who,
                role: role.clone(),
            }
        } else {
            Command::RevokeRole {
                service: service.clone(),
                from: who,
                role: role.clone(),
            }
        };
        let done = self.execute(&command, &actor).await?;
        let verb = if assign { "assigned" } else { "revoked" };
        Ok(Output {
            text: format!(
                "{verb} {role} in {service}{}\n",
                if done.events.is_empty() {
                    " (nothing changed)"
                } else {
                    ""
                }
            ),
            json: json!({verb: role.as_str(), "service": service.as_str(), "changed": !done.events.is_empty()}),
        })
    }

    pub(crate) async fn roles(&self, service: &str, who: &str) -> Result<Output, Failure> {
        let (service, who) = (service_name(service)?, email(who)?);
        self.query(|org| {
            let grants = org.effective_roles(&service, &who).ok_or_else(|| {
                Failure::refused(
                    "not_found",
                    format!("no service {service} or no member {who}"),
                )
            })?;
            let rows: Vec<Value> = grants
                .iter()
                .map(|g| {
                    let via = match g.source {
                        RoleSource::Direct => "direct".to_owned(),
                        RoleSource::Group(id) => group_label(org, id),
                        _ => "other".to_owned(),
                    };
                    json!({"role": g.role.as_str(), "via": via})
                })
                .collect();
            let mut text = format!("{} in {}:\n", shown(who.as_str()), shown(service.as_str()));
            for r in &rows {
                let role = shown(r["role"].as_str().unwrap_or(""));
                text.push_str(&format!(
                    "  {role:<24} via {}\n",
                    shown(r["via"].as_str().unwrap_or(""))
                ));
            }
            Ok(Output {
                text,
                json: Value::Array(rows),
            })
        })
        .await
    }

    pub(crate) async fn license_pool(
        &self,
        actor: &str,
        k: &str,
        seats: u32,
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let k = kind(k)?;
        self.execute(
            &Command::SetLicensePool {
                kind: k.clone(),
                seats,
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!("{k}: {}\n", plural(seats as usize, "seat")),
            json: json!({"kind": k.as_str(), "seats": seats}),
        })
    }

    pub(crate) async fn license_allocation(
        &self,
        actor: &str,
        k: &str,
        user: &str,
        allocate: bool,
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let (k, user) = (kind(k)?, email(user)?);
        let command = if allocate {
            Command::AllocateLicense {
                user: user.clone(),
                kind: k.clone(),
            }
        } else {
            Command::DeallocateLicense {
                user: user.clone(),
                kind: k.clone(),
            }
        };
        self.execute(&command, &actor).await?;
        let verb = if allocate { "allocated" } else { "deallocated" };
        Ok(Output {
            text: format!("{verb} a {k} license for {user}\n"),
            json: json!({verb: k.as_str(), "user": user.as_str()}),
        })
    }

    /// Adds `k` (with its quota) to the group's license rule, keeping the
    /// kinds it gives already.
    pub(crate) async fn license_rule(
        &self,
        actor: &str,
        group: &str,
        k: &str,
        quota: Option<u32>,
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let (group, k) = (group_name(group)?, kind(k)?);
        let mut licenses = self
            .query(|org| {
                Ok(org
                    .license_rule(&group)
                    .map(|rule| rule.licenses.clone())
                    .unwrap_or_default())
            })
            .await?;
        licenses.insert(k.clone(), quota);
        self.execute(
            &Command::SetGroupLicenseRule {
                group: group.clone(),
                licenses,
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!("members of {group} lease {k} licenses at sign-in\n"),
            json: json!({"group": group.as_str(), "kind": k.as_str(), "quota": quota}),
        })
    }

    /// An administrator's "Release license": frees the member's seat.
    pub(crate) async fn license_release(
        &self,
        actor: &str,
        k: &str,
        user: &str,
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let (k, user) = (kind(k)?, email(user)?);
        self.execute(
            &Command::ReleaseLicense {
                user: user.clone(),
                kind: k.clone(),
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!("released the {k} license of {user}\n"),
            json: json!({"released": k.as_str(), "user": user.as_str()}),
        })
    }

    /// Back to group-based allocation: the member's direct licenses are
    /// released, and their groups' licenses leased at their next sign-in.
    pub(crate) async fn license_use_groups(
        &self,
        actor: &str,
        user: &str,
    ) -> Result<Output, Failure> {
        let (actor, user) = (email(actor)?, email(user)?);
        self.execute(&Command::UseGroupLicenses { user: user.clone() }, &actor)
            .await?;
        Ok(Output {
            text: format!(
                "{user} is on group-based allocation: their groups' licenses are leased at their next sign-in\n"
            ),
            json: json!({"group_based": user.as_str()}),
        })
    }

    pub(crate) async fn licenses(&self) -> Result<Output, Failure> {
        self.query(|org| {
        let mut text = String::new();
        let rows: Vec<Value> = org
            .seat_usage()
            .iter()
            .map(|u| {
                let holders: Vec<Value> = org
                    .license_holders(&u.kind)
                    .iter()
                    .map(|(user, source)| {
                        let who = org.member_by_id(*user).map_or_else(String::new, |m| m.email().to_string());
                        let via = match source {
                            LicenseSource::Direct => "direct".to_owned(),
                            LicenseSource::Group(g) => group_label(org, *g),
                            _ => "other".to_owned(),
                        };
                        json!({"email": who, "via": via})
                    })
                    .collect();
                let waiting: Vec<Value> = org
                    .license_waiting(&u.kind)
                    .iter()
                    .map(|(user, wait)| {
                        let who = org.member_by_id(*user).map_or_else(String::new, |m| m.email().to_string());
                        json!({"email": who, "via": group_label(org, wait.group), "for": wait.reason.code()})
                    })
                    .collect();
                text.push_str(&format!("{}: {} of {} used\n", shown(u.kind.as_str()), u.used, plural(u.seats as usize, "seat")));
                for h in &holders {
                    text.push_str(&format!(
                        "  {} (via {})\n",
                        shown(h["email"].as_str().unwrap_or("")),
                        shown(h["via"].as_str().unwrap_or(""))
                    ));
                }
                for w in &waiting {
                    text.push_str(&format!(
                        "  waiting: {} (via {}, {})\n",
                        shown(w["email"].as_str().unwrap_or("")),
                        shown(w["via"].as_str().unwrap_or("")),
                        wait_words(w["for"].as_str().unwrap_or(""))
                    ));
                }
                json!({"kind": u.kind.as_str(), "seats": u.seats, "used": u.used, "free": u.free(), "holders": holders, "waiting": waiting})
            })
            .collect();
        Ok(Output {
            text,
            json: Value::Array(rows),
        })
        })
        .await
    }
}

/// What a member holds (kind, where from) and waits for (kind, why).
pub(crate) type LicenseLines = (Vec<(String, String)>, Vec<(String, &'static str)>);

/// A member's licenses for the users page: what they hold with where from
/// (`direct` or the group), and what their groups give that they wait for,
/// with why.
pub(crate) fn license_lines(org: &Organization, status: &MemberLicenses) -> LicenseLines {
    let held = status
        .held
        .iter()
        .map(|(kind, source)| {
            let via = match source {
                LicenseSource::Direct => "direct".to_owned(),
                LicenseSource::Group(g) => group_label(org, *g),
                _ => "other".to_owned(),
            };
            (kind.as_str().to_owned(), via)
        })
        .collect();
    let waiting = status
        .waiting
        .iter()
        .map(|w| (w.kind.as_str().to_owned(), w.reason.code()))
        .collect();
    (held, waiting)
}
