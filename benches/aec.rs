// Placeholder until the element's benchmark lands.
fn main() {}
