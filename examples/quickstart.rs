//! The main job in one run: create an organization, invite people one by
//! one and from a CSV file, see who is Pending, remove someone.
//!
//! Run with `cargo run --example quickstart`. It keeps everything in memory;
//! `examples/admin` is the same over a SQLite file, from the terminal.
//!
//! The service is async: here it runs on a single-threaded tokio runtime;
//! in an axum service the same calls are awaited in the handlers.

use org_accounts::{
    AccountService, Command, Context, CsvOptions, Email, GroupName, InMemoryStore, MemberQuery,
    OrganizationId, SortBy, SortOrder, StatusFilter, Timestamp, parse_address_list,
    read_invite_csv,
};

const UPLOAD: &str = "\u{feff}Email,Group Membership,Department\r
dee@example.org,\"Finance, automation developers\",Accounts\r
not-an-address,Finance,Accounts\r
eve@example.org,Finanse,Sales\r
bob@example.com,Finance,Accounts\r
";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now: Timestamp = "2026-11-28T09:00:00Z".parse()?;
    let admin = Context::new(Email::parse("ada@example.com")?, now);
    let service = AccountService::new(InMemoryStore::new());
    let org = OrganizationId::new("example-corp")?;

    service
        .execute(
            &org,
            &Command::CreateOrganization {
                name: "Example Corp".into(),
            },
            &admin,
        )
        .await?;
    println!("created Example Corp; ada@example.com is its administrator");

    let finance = GroupName::parse("Finance")?;
    service
        .execute(
            &org,
            &Command::CreateGroup {
                name: finance.clone(),
                members: vec![],
            },
            &admin,
        )
        .await?;

    // What an administrator types into the invite box.
    let typed = "bob@example.com, Cy@Example.com";
    service
        .execute(
            &org,
            &Command::InviteUsers {
                emails: parse_address_list(typed)?,
                groups: vec![finance.clone(), GroupName::parse("automation users")?],
            },
            &admin,
        )
        .await?;
    println!("invited {typed}");

    // Inviting someone twice is refused, with a message that says what to fix.
    let again = Command::InviteUsers {
        emails: parse_address_list("cy@example.com")?,
        groups: vec![],
    };
    if let Err(e) = service.execute(&org, &again, &admin).await {
        println!("refused: {e}");
    }

    // A spreadsheet upload: good rows are invited, the others explained.
    let file = read_invite_csv(UPLOAD.as_bytes(), &CsvOptions::default())?;
    let report = service.bulk_invite(&org, &file, &admin, false).await?;
    println!("\nbulk invite from CSV:\n{report}");

    // Bob accepts.
    let bob = Context::new(
        Email::parse("bob@example.com")?,
        "2026-11-28T10:00:00Z".parse()?,
    );
    service
        .execute(&org, &Command::AcceptInvitation, &bob)
        .await?;

    // Queries run on the service's up-to-date state, without copying it.
    let (users, pending) = service
        .read(&org, |state| {
            let page = state
                .members_page(&MemberQuery::new().sort(SortBy::LastActive, SortOrder::Descending));
            let users: Vec<String> = page
                .rows
                .iter()
                .map(|row| {
                    let last = row
                        .last_active()
                        .map_or_else(|| "Pending".to_owned(), |t| t.to_string());
                    let groups: Vec<&str> = row.groups().iter().map(|g| g.as_str()).collect();
                    format!("  {:<18} {:<22} {}", row.email(), last, groups.join(", "))
                })
                .collect();
            let pending = state
                .members_page(&MemberQuery::new().status(StatusFilter::Pending))
                .rows
                .len();
            (users, pending)
        })
        .await?;
    println!("users:");
    println!("  {:<18} {:<22} Groups", "Email", "Last active");
    for line in users {
        println!("{line}");
    }
    println!("still pending: {pending}");

    service
        .execute(
            &org,
            &Command::RemoveUsers {
                emails: vec![Email::parse("dee@example.org")?],
            },
            &admin,
        )
        .await?;
    println!(
        "removed dee@example.org; {} members left",
        service.read(&org, |state| state.member_count()).await?
    );
    Ok(())
}
