// Three different mistakes in one model (a struct key, a field key and a
// field type) are reported in one build, and code that uses the model adds
// no errors of its own.
use strata::prelude::*;

#[derive(Model)]
#[model(tabel = "accounts")]
struct Account {
    #[model(primary_key, generated)]
    id: i64,
    #[model(uniqe)]
    email: String,
    #[model(version)]
    version: String,
}

async fn open(db: &Db) -> strata::Result<Account> {
    let account = Account::insert(db, NewAccount { email: "a@example.com".into() }).await?;
    let patch = AccountPatch { email: Some("b@example.com".into()), ..Default::default() };
    Account::patch(db, account.id, patch).await?;
    Account::query().filter(Account::EMAIL.eq("b@example.com".to_owned())).one(db).await
}

fn main() {
    let _ = open;
}
