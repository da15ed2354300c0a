//! `include` (RFC 6609): loading, compiling and running another script, with the nesting,
//! count and loop limits.

use std::collections::HashMap;
use std::rc::Rc;

use super::{Flow, Frame, State};
use crate::proto::sieve::extensions::Extension;
use crate::proto::sieve::{compile_with_limits, RuntimeError};

impl State<'_, '_> {
    pub(super) fn include(
        &mut self,
        global: bool,
        once: bool,
        optional: bool,
        name: String,
    ) -> Result<Flow, RuntimeError> {
        if !crate::proto::sieve::validate::valid_script_name(&name) {
            return Err(RuntimeError::Invalid(format!(
                "include: invalid script name {name:?}"
            )));
        }
        let key = (global, name);
        if once && self.included.contains(&key) {
            return Ok(Flow::Next);
        }
        if self.stack.contains(&key) {
            return Err(RuntimeError::IncludeLoop(key.1));
        }
        if self.stack.len() >= self.budget.max_include_depth {
            return Err(RuntimeError::IncludeTooDeep(self.budget.max_include_depth));
        }
        let script = match self.includes.get(&key) {
            Some(s) => Rc::clone(s),
            None => {
                if self.includes.len() >= self.budget.max_includes {
                    return Err(RuntimeError::TooManyIncludes(self.budget.max_includes));
                }
                let Some(source) = self.env.include(global, &key.1) else {
                    if optional {
                        return Ok(Flow::Next);
                    }
                    return Err(RuntimeError::IncludeMissing(key.1));
                };
                let s = compile_with_limits(&source, &self.enabled, &self.budget.limits).map_err(
                    |error| RuntimeError::IncludeCompile {
                        name: key.1.clone(),
                        error,
                    },
                )?;
                let s = Rc::new(s);
                self.includes.insert(key.clone(), Rc::clone(&s));
                s
            }
        };
        if !self.included.contains(&key) {
            self.included.push(key.clone());
        }
        self.stack.push(key);
        let mut frame = Frame {
            locals: HashMap::new(),
            global_names: Vec::new(),
            variables: script.required.contains(Extension::Variables),
        };
        let flow = self.block(&script.commands, &mut frame);
        self.stack.pop();
        match flow? {
            Flow::Stop => Ok(Flow::Stop),
            Flow::Next | Flow::Return => Ok(Flow::Next),
        }
    }
}
