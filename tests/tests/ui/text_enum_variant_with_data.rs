// A TextEnum variant that holds data cannot be stored as one text value.
#[derive(strata::TextEnum, Debug)]
enum Shape {
    Circle,
    Square(u32),
}

fn main() {}
