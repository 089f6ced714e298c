//! Parser events from unsafe-libyaml (the libyaml transpile serde_yaml_ng also uses). It
//! reads what Compose reads, since go-yaml is itself a port of libyaml. This file holds
//! the module's only `unsafe` code: a boxed, never-moved parser, events copied out and
//! freed at once, and no call to the parser after it has reported an error.

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use unsafe_libyaml as ffi_unsafe;

use super::value::{Scalar, Style};

/// Where an event starts: 0-based line and column (in characters), as libyaml counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug)]
pub enum Event {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias(String),
    Scalar {
        anchor: Option<String>,
        tag: Option<String>,
        value: Scalar,
    },
    SequenceStart {
        anchor: Option<String>,
        tag: Option<String>,
    },
    SequenceEnd,
    MappingStart {
        anchor: Option<String>,
        tag: Option<String>,
    },
    MappingEnd,
}

#[derive(Debug)]
pub struct SyntaxError {
    pub mark: Mark,
    pub problem: String,
}

pub struct Parser<'input> {
    sys: Box<MaybeUninit<ffi_unsafe::yaml_parser_t>>,
    failed: bool,
    input: PhantomData<&'input str>,
}

impl<'input> Parser<'input> {
    pub fn new(input: &'input str) -> Parser<'input> {
        let mut sys = Box::new(MaybeUninit::<ffi_unsafe::yaml_parser_t>::uninit());
        let p = sys.as_mut_ptr();
        // SAFETY: `p` points to boxed storage that never moves (libyaml keeps pointers
        // into the parser itself); the input outlives the parser ('input).
        unsafe {
            if ffi_unsafe::yaml_parser_initialize(p).fail {
                // Only a failed allocation makes initialisation fail.
                std::alloc::handle_alloc_error(
                    std::alloc::Layout::new::<ffi_unsafe::yaml_parser_t>(),
                );
            }
            ffi_unsafe::yaml_parser_set_encoding(p, ffi_unsafe::YAML_UTF8_ENCODING);
            ffi_unsafe::yaml_parser_set_input_string(p, input.as_ptr(), input.len() as u64);
        }
        Parser {
            sys,
            failed: false,
            input: PhantomData,
        }
    }

    pub fn next(&mut self) -> Result<(Event, Mark), SyntaxError> {
        let p = self.sys.as_mut_ptr();
        let mut event = MaybeUninit::<ffi_unsafe::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new` and is never used again after a
        // failure (libyaml's state is undefined then); the event is read only when
        // `yaml_parser_parse` succeeded, copied, and deleted before returning.
        unsafe {
            if self.failed {
                self.failed = true;
                return Err(error(p));
            }
            if ffi_unsafe::yaml_parser_parse(p, event.as_mut_ptr()).fail {
                self.failed = true;
                return Err(error(p));
            }
            let e = event.as_mut_ptr();
            let mark = Mark {
                line: (*e).start_mark.line as usize,
                column: (*e).start_mark.column as usize,
            };
            let out = convert(&*e);
            ffi_unsafe::yaml_event_delete(e);
            Ok((out, mark))
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (or the process aborted there).
        unsafe { ffi_unsafe::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

/// SAFETY: `p` is an initialised parser that has just failed.
unsafe fn error(p: *const ffi_unsafe::yaml_parser_t) -> SyntaxError {
    let p = unsafe { &*p };
    let problem = unsafe { c_text(p.problem.cast()) }.unwrap_or_else(|| "invalid YAML".into());
    SyntaxError {
        mark: Mark {
            line: p.problem_mark.line as usize,
            column: p.problem_mark.column as usize,
        },
        problem,
    }
}

/// SAFETY: `s` is null or a NUL-terminated string owned by libyaml.
unsafe fn c_text(s: *const c_char) -> Option<String> {
    if s.is_null() {
        return None;
    }
    Some(unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
}

/// SAFETY: `e` is an event `yaml_parser_parse` has just filled in.
unsafe fn convert(e: &ffi_unsafe::yaml_event_t) -> Event {
    let text = |s: *const u8| unsafe { c_text(s.cast()) };
    match e.type_ {
        ffi_unsafe::YAML_STREAM_START_EVENT => Event::StreamStart,
        ffi_unsafe::YAML_STREAM_END_EVENT => Event::StreamEnd,
        ffi_unsafe::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
        ffi_unsafe::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
        ffi_unsafe::YAML_ALIAS_EVENT => {
            Event::Alias(text(unsafe { e.data.alias.anchor }).unwrap_or_default())
        }
        ffi_unsafe::YAML_SCALAR_EVENT => {
            let s = unsafe { &e.data.scalar };
            let bytes = unsafe { std::slice::from_raw_parts(s.value, s.length as usize) };
            let style = match s.style {
                ffi_unsafe::YAML_SINGLE_QUOTED_SCALAR_STYLE => Style::SingleQuoted,
                ffi_unsafe::YAML_DOUBLE_QUOTED_SCALAR_STYLE => Style::DoubleQuoted,
                ffi_unsafe::YAML_LITERAL_SCALAR_STYLE => Style::Literal,
                ffi_unsafe::YAML_FOLDED_SCALAR_STYLE => Style::Folded,
                _ => Style::Plain,
            };
            // The input is UTF-8 and libyaml writes UTF-8: the lossy path is never taken.
            let value = match std::str::from_utf8(bytes) {
                Ok(v) => Scalar::new(v, style, None),
                Err(_) => Scalar::new(String::from_utf8_lossy(bytes), style, None),
            };
            Event::Scalar {
                anchor: text(s.anchor),
                tag: text(s.tag),
                value,
            }
        }
        ffi_unsafe::YAML_SEQUENCE_START_EVENT => {
            let s = unsafe { &e.data.sequence_start };
            Event::SequenceStart {
                anchor: text(s.anchor),
                tag: text(s.tag),
            }
        }
        ffi_unsafe::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
        ffi_unsafe::YAML_MAPPING_START_EVENT => {
            let s = unsafe { &e.data.mapping_start };
            Event::MappingStart {
                anchor: text(s.anchor),
                tag: text(s.tag),
            }
        }
        ffi_unsafe::YAML_MAPPING_END_EVENT => Event::MappingEnd,
        // YAML_NO_EVENT is never the result of a successful parse.
        _ => Event::StreamEnd,
    }
}
