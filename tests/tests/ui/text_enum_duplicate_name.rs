// Two variants stored under the same text could not be told apart when read.
#[derive(strata::TextEnum, Debug)]
enum Status {
    Paid,
    #[model(rename = "paid")]
    Settled,
}

fn main() {}
