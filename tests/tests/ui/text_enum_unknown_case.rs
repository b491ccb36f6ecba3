// rename_all takes one of a fixed list of cases.
#[derive(strata::TextEnum, Debug)]
#[model(rename_all = "camelCase")]
enum Status {
    Paid,
}

fn main() {}
