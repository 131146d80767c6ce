//! Create an organization, invite people, list who is pending, remove one.
//!
//! Run with `cargo run --example quickstart`.

use org_accounts::{
    Command, Context, Email, GroupName, MemberQuery, Organization, SortBy, SortOrder, StatusFilter,
    Timestamp, parse_address_list,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now: Timestamp = "2026-11-28T09:00:00Z".parse()?;
    let admin = Context::new(Email::parse("ada@example.com")?, now);

    let mut org = Organization::new();
    org.execute(
        &Command::CreateOrganization {
            name: "Example Corp".into(),
        },
        &admin,
    )?;
    println!(
        "created {:?}; ada@example.com is its administrator",
        org.name()
    );

    let finance = GroupName::parse("Finance")?;
    org.execute(
        &Command::CreateGroup {
            name: finance.clone(),
            members: vec![],
        },
        &admin,
    )?;

    let typed = "bob@example.com, Cy@Example.com; dee@example.org";
    let events = org.execute(
        &Command::InviteUsers {
            emails: parse_address_list(typed)?,
            groups: vec![finance.clone(), GroupName::parse("automation users")?],
        },
        &admin,
    )?;
    println!("invited {} people: {typed}", events.len());

    // Inviting someone twice is refused, with a message that says what to fix.
    let again = org.execute(
        &Command::InviteUsers {
            emails: parse_address_list("cy@example.com")?,
            groups: vec![],
        },
        &admin,
    );
    if let Err(e) = again {
        println!("refused: {e}");
    }

    // Bob accepts.
    let bob = Context::new(
        Email::parse("bob@example.com")?,
        "2026-11-28T10:00:00Z".parse()?,
    );
    org.execute(&Command::AcceptInvitation, &bob)?;

    println!("\nusers:");
    let page =
        org.members_page(&MemberQuery::new().sort(SortBy::LastActive, SortOrder::Descending));
    for row in &page.rows {
        let last = row
            .last_active()
            .map_or_else(|| "Pending".to_owned(), |t| t.to_string());
        let groups: Vec<&str> = row.groups().iter().map(|g| g.as_str()).collect();
        println!("  {:<20} {:<22} {}", row.email(), last, groups.join(", "));
    }

    let pending = org.members_page(&MemberQuery::new().status(StatusFilter::Pending));
    println!("\nstill pending: {}", pending.rows.len());

    org.execute(
        &Command::RemoveUsers {
            emails: vec![Email::parse("dee@example.org")?],
        },
        &admin,
    )?;
    println!(
        "removed dee@example.org; {} members left",
        org.member_count()
    );
    Ok(())
}
