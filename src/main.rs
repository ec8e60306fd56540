fn main() -> std::process::ExitCode {
    cronduct::cli::main()
}
