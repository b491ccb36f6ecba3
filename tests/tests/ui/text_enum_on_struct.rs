// TextEnum is for fieldless enums; structs derive Model.
#[derive(strata::TextEnum)]
struct Status {
    paid: bool,
}

fn main() {}
