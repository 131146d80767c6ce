//! Services, roles and licenses.

use org_accounts::{
    Assignee, Command, LicenseKind, LicenseSource, Organization, RoleName, RoleSource, ServiceName,
    Store,
};
use serde_json::{Value, json};

use crate::args::{actor, email, exactly, group_name, no_args, required, take_value, take_values};
use crate::{App, Failure, Output};

fn service_name(text: &str) -> Result<ServiceName, Failure> {
    ServiceName::parse(text).map_err(|e| Failure::refused("invalid_name", e))
}

fn role_name(text: &str) -> Result<RoleName, Failure> {
    RoleName::parse(text).map_err(|e| Failure::refused("invalid_name", e))
}

fn kind(text: &str) -> Result<LicenseKind, Failure> {
    LicenseKind::parse(text).map_err(|e| Failure::refused("invalid_name", e))
}

fn group_label(org: &Organization, id: org_accounts::GroupId) -> String {
    org.group_by_id(id)
        .map_or_else(|| id.to_string(), |g| g.name().to_string())
}

impl<S: Store> App<S> {
    pub(crate) async fn service_add(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let roles = take_values(&mut args, "--role")?
            .iter()
            .map(|r| role_name(r))
            .collect::<Result<Vec<_>, _>>()?;
        let admin_role = role_name(&required(
            take_value(&mut args, "--admin-role")?,
            "--admin-role ROLE",
        )?)?;
        let default_roles = take_values(&mut args, "--default")?
            .iter()
            .map(|pair| {
                let (group, role) = pair.split_once('=').ok_or_else(|| {
                    Failure::Usage(format!("--default takes GROUP=ROLE, got {pair:?}"))
                })?;
                Ok((group_name(group)?, role_name(role)?))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let [name] = exactly(args, "NAME")?;
        let name = service_name(&name)?;
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
        mut args: Vec<String>,
        assign: bool,
    ) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let who = match (
            take_value(&mut args, "--group")?,
            take_value(&mut args, "--user")?,
        ) {
            (Some(g), None) => Assignee::Group(group_name(&g)?),
            (None, Some(u)) => Assignee::User(email(&u)?),
            _ => {
                return Err(Failure::Usage(
                    "give exactly one of --group NAME or --user EMAIL".into(),
                ));
            }
        };
        let [service, role] = exactly(args, "SERVICE ROLE")?;
        let (service, role) = (service_name(&service)?, role_name(&role)?);
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

    pub(crate) async fn roles(&self, args: Vec<String>) -> Result<Output, Failure> {
        let [service, who] = exactly(args, "SERVICE EMAIL")?;
        let (service, who) = (service_name(&service)?, email(&who)?);
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
            let mut text = format!("{who} in {service}:\n");
            for r in &rows {
                text.push_str(&format!(
                    "  {:<24} via {}\n",
                    r["role"].as_str().unwrap_or(""),
                    r["via"].as_str().unwrap_or("")
                ));
            }
            Ok(Output {
                text,
                json: Value::Array(rows),
            })
        })
        .await
    }

    pub(crate) async fn license_pool(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let [k, seats] = exactly(args, "KIND SEATS")?;
        let seats: u32 = seats
            .parse()
            .map_err(|_| Failure::Usage(format!("SEATS must be a whole number, got {seats:?}")))?;
        let k = kind(&k)?;
        self.execute(
            &Command::SetLicensePool {
                kind: k.clone(),
                seats,
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!("{k}: {seats} seats\n"),
            json: json!({"kind": k.as_str(), "seats": seats}),
        })
    }

    pub(crate) async fn license_allocation(
        &self,
        mut args: Vec<String>,
        allocate: bool,
    ) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let [k, user] = exactly(args, "KIND EMAIL")?;
        let (k, user) = (kind(&k)?, email(&user)?);
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

    pub(crate) async fn license_rule(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let quota = take_value(&mut args, "--quota")?
            .map(|q| {
                q.parse::<u32>().map_err(|_| {
                    Failure::Usage(format!("--quota must be a whole number, got {q:?}"))
                })
            })
            .transpose()?;
        let [group, k] = exactly(args, "GROUP KIND")?;
        let (group, k) = (group_name(&group)?, kind(&k)?);
        self.execute(
            &Command::SetGroupLicenseRule {
                group: group.clone(),
                kind: k.clone(),
                quota,
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!("members of {group} receive {k} licenses\n"),
            json: json!({"group": group.as_str(), "kind": k.as_str(), "quota": quota}),
        })
    }

    pub(crate) async fn licenses(&self, args: Vec<String>) -> Result<Output, Failure> {
        no_args(&args)?;
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
                text.push_str(&format!("{}: {} of {} seats used\n", u.kind, u.used, u.seats));
                for h in &holders {
                    text.push_str(&format!(
                        "  {} (via {})\n",
                        h["email"].as_str().unwrap_or(""),
                        h["via"].as_str().unwrap_or("")
                    ));
                }
                json!({"kind": u.kind.as_str(), "seats": u.seats, "used": u.used, "free": u.free(), "holders": holders})
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
