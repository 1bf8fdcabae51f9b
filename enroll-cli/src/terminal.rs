//! Questions and answers on the terminal. Questions go to stderr, so that
//! stdout carries only what the user (or a script) asked to see.

use std::io::{BufRead, IsTerminal, Write};

use crate::failure::{Exit, Failure};

/// Reads answers from standard input.
pub struct Terminal;

/// Whether standard input is a terminal someone can answer on.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

impl Terminal {
    /// Shows `prompt` and reads one line; `None` at end of input.
    pub fn line(&mut self, prompt: &str) -> Result<Option<String>, Failure> {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{prompt}");
        let _ = err.flush();
        drop(err);
        let mut answer = String::new();
        match std::io::stdin().lock().read_line(&mut answer) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(answer)),
            Err(e) => Err(Failure::new(
                Exit::NotConfirmed,
                format!("cannot read the answer: {}", crate::failure::describe(&e)),
            )),
        }
    }

    /// Asks a yes/no question; Enter takes `default`.
    pub fn yes(&mut self, question: &str, default: bool) -> Result<bool, Failure> {
        let choices = if default { "[Y/n]" } else { "[y/N]" };
        loop {
            let Some(answer) = self.line(&format!("{question} {choices} "))? else {
                return Err(Failure::new(
                    Exit::NotConfirmed,
                    "input ended before every question was answered; nothing was saved",
                ));
            };
            match answer.trim().to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => eprintln!("Please answer y or n."),
            }
        }
    }

    /// Tells the user something on stderr.
    pub fn say(&mut self, text: &str) {
        eprintln!("{text}");
    }
}
