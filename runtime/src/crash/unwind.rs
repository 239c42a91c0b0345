//! Unwinding (framehop: DWARF CFI from `.eh_frame`/`.debug_frame`, frame pointers as
//! fallback) and symbolizing (addr2line: function, file, line, inlined frames; the symbol
//! table when there is no debug info) on the symbolizer thread. See `resolve.rs` for the
//! bounds and the cache.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use framehop::aarch64::{CacheAarch64, PtrAuthMask, UnwindRegsAarch64, UnwinderAarch64};
use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder};
use object::{Object, ObjectSection, ObjectSegment};

use super::frames::{pc_only, Capture, Frame, Resolution, Symbol, MAX_FRAMES, RESOLVE_TIME_BOUND};
use super::maps::{self, MapEntry};
use crate::sys::crash::{ARCH_AARCH64, ARCH_X86_64};

/// At most this many parsed modules are kept; past it the cache starts afresh.
const MAX_CACHED_MODULES: usize = 64;

/// What the symbolizer thread needs of a capture (its own copy: the thread may outlive the
/// caller's wait).
struct Job {
    arch: u32,
    pc: u64,
    sp: u64,
    fp: u64,
    lr: u64,
    stack_start: u64,
    stack: Vec<u8>,
    maps: Arc<str>,
    reply: mpsc::SyncSender<Resolution>,
}

/// The queue of the symbolizer thread, `None` until first use (or after it died).
static QUEUE: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);

/// Hands `capture` to the symbolizer thread and waits, bounded, for the frames.
pub(crate) fn resolve(capture: &Capture) -> Resolution {
    let (reply, answer) = mpsc::sync_channel(1);
    let job = Job {
        arch: capture.arch,
        pc: capture.pc,
        sp: capture.sp,
        fp: capture.fp,
        lr: capture.lr,
        stack_start: capture.stack_start,
        stack: capture.stack.clone(),
        maps: Arc::clone(&capture.maps),
        reply,
    };
    if let Err(why) = submit(job) {
        return pc_only(
            capture,
            Some(format!("cannot start the symbolizer thread: {why}")),
        );
    }
    match answer.recv_timeout(RESOLVE_TIME_BOUND) {
        Ok(resolution) => resolution,
        Err(_) => pc_only(
            capture,
            Some(format!(
                "unwinding and symbolizing did not finish within {} s",
                RESOLVE_TIME_BOUND.as_secs()
            )),
        ),
    }
}

/// Sends `job` to the symbolizer thread, starting it if it does not run.
fn submit(job: Job) -> std::io::Result<()> {
    let mut queue = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
    let job = match queue.as_ref() {
        Some(sender) => match sender.send(job) {
            Ok(()) => return Ok(()),
            // The thread is gone (a panic in a parser): start another one with this job.
            Err(mpsc::SendError(job)) => job,
        },
        None => job,
    };
    let (sender, jobs) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("tandem-symbolize".into())
        .spawn(move || {
            let mut cache = ModuleCache::default();
            for job in jobs {
                let resolution = cache.resolve(&job);
                // The caller may have stopped waiting: nobody to tell.
                let _ = job.reply.send(resolution);
            }
        })?;
    sender
        .send(job)
        .map_err(|_| std::io::Error::other("the symbolizer thread ended at once"))?;
    *queue = Some(sender);
    Ok(())
}

/// A module file, parsed once: its load segments (to relate file offsets to addresses),
/// its unwind sections and, on first use, its debug info.
struct ModuleFile {
    path: String,
    /// `(p_vaddr, p_offset, p_filesz)` of each loadable segment.
    segments: Vec<(u64, u64, u64)>,
    text: Option<(Range<u64>, Arc<[u8]>)>,
    eh_frame: Option<(Range<u64>, Arc<[u8]>)>,
    eh_frame_hdr: Option<(Range<u64>, Arc<[u8]>)>,
    debug_frame: Option<Arc<[u8]>>,
    got: Option<Range<u64>>,
    symbols: OnceCell<Option<addr2line::Loader>>,
}

impl ModuleFile {
    fn load(path: &str) -> Option<ModuleFile> {
        let file = std::fs::File::open(path).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let cache = object::ReadCache::new(file);
        let object = object::File::parse(&cache).ok()?;
        let section = |name: &str| {
            let section = object.section_by_name(name)?;
            let data: Arc<[u8]> = Arc::from(section.data().ok()?);
            let start = section.address();
            Some((start..start.saturating_add(section.size()), data))
        };
        Some(ModuleFile {
            path: path.to_owned(),
            segments: object
                .segments()
                .map(|segment| {
                    let (offset, size) = segment.file_range();
                    (segment.address(), offset, size)
                })
                .collect(),
            text: section(".text"),
            eh_frame: section(".eh_frame"),
            eh_frame_hdr: section(".eh_frame_hdr"),
            debug_frame: section(".debug_frame").map(|(_, data)| data),
            got: object.section_by_name(".got").map(|got| {
                let start = got.address();
                start..start.saturating_add(got.size())
            }),
            symbols: OnceCell::new(),
        })
    }

    /// The load bias (address of file address 0) given one mapping of this file.
    fn bias(&self, entry: &MapEntry) -> u64 {
        let page = 4096u64;
        self.segments
            .iter()
            .find(|&&(_, offset, size)| {
                offset & !(page - 1) <= entry.offset && entry.offset < offset.saturating_add(size)
            })
            .map_or(
                entry.start.wrapping_sub(entry.offset),
                |&(vaddr, offset, _)| {
                    entry
                        .start
                        .wrapping_sub(entry.offset)
                        .wrapping_add(offset)
                        .wrapping_sub(vaddr)
                },
            )
    }

    fn section_info(&self) -> ExplicitModuleSectionInfo<Arc<[u8]>> {
        let split = |part: &Option<(Range<u64>, Arc<[u8]>)>| match part {
            Some((range, data)) => (Some(range.clone()), Some(Arc::clone(data))),
            None => (None, None),
        };
        let (text_svma, text) = split(&self.text);
        let (eh_frame_svma, eh_frame) = split(&self.eh_frame);
        let (eh_frame_hdr_svma, eh_frame_hdr) = split(&self.eh_frame_hdr);
        ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma,
            text,
            got_svma: self.got.clone(),
            eh_frame_svma,
            eh_frame,
            eh_frame_hdr_svma,
            eh_frame_hdr,
            debug_frame: self.debug_frame.clone(),
            ..Default::default()
        }
    }

    /// The functions at `svma` (an address as the file states it), innermost first.
    fn symbolize(&self, svma: u64) -> Vec<Symbol> {
        let Some(loader) = self
            .symbols
            .get_or_init(|| addr2line::Loader::new(&self.path).ok())
        else {
            return Vec::new();
        };
        let mut symbols = Vec::new();
        if let Ok(mut frames) = loader.find_frames(svma) {
            while let Ok(Some(frame)) = frames.next() {
                let name = frame
                    .function
                    .as_ref()
                    .and_then(|function| function.demangle().ok())
                    .map(|name| name.into_owned());
                let (file, line, column) = frame.location.map_or((None, None, None), |loc| {
                    (loc.file.map(str::to_owned), loc.line, loc.column)
                });
                symbols.push(Symbol {
                    name,
                    file,
                    line,
                    column,
                });
                if symbols.len() >= MAX_FRAMES {
                    break;
                }
            }
        }
        if symbols.iter().all(|symbol| symbol.name.is_none()) {
            if let Some(name) = loader.find_symbol(svma) {
                let name = addr2line::demangle_auto(name.into(), None).into_owned();
                match symbols.first_mut() {
                    Some(first) => first.name = Some(name),
                    None => symbols.push(Symbol {
                        name: Some(name),
                        file: None,
                        line: None,
                        column: None,
                    }),
                }
            }
        }
        symbols
    }
}

/// Parsed module files by `(path, device, inode)`; `None` for one that could not be read.
#[derive(Default)]
struct ModuleCache {
    files: HashMap<(String, String, u64), Option<Rc<ModuleFile>>>,
}

/// A module as mapped in one worker: its file and where it was loaded.
struct Mapped {
    file: Rc<ModuleFile>,
    bias: u64,
    range: Range<u64>,
}

impl ModuleCache {
    fn file(&mut self, entry: &MapEntry) -> Option<Rc<ModuleFile>> {
        let key = (entry.path.clone(), entry.device.clone(), entry.inode);
        if let Some(file) = self.files.get(&key) {
            return file.clone();
        }
        if self.files.len() >= MAX_CACHED_MODULES {
            self.files.clear();
        }
        let file = ModuleFile::load(&entry.path).map(Rc::new);
        self.files.insert(key, file.clone());
        file
    }

    /// The file-backed executable modules of a memory map, with their load biases.
    fn modules(&mut self, entries: &[MapEntry]) -> Vec<Mapped> {
        let mut modules: Vec<Mapped> = Vec::new();
        for entry in entries.iter().filter(|entry| entry.is_file()) {
            if let Some(known) = modules.iter_mut().find(|m| m.file.path == entry.path) {
                known.range.start = known.range.start.min(entry.start);
                known.range.end = known.range.end.max(entry.end);
                continue;
            }
            if !entry.executable
                && !entries
                    .iter()
                    .any(|e| e.executable && e.path == entry.path && e.inode == entry.inode)
            {
                continue; // a data file, not a module
            }
            if let Some(file) = self.file(entry) {
                let bias = file.bias(entry);
                modules.push(Mapped {
                    file,
                    bias,
                    range: entry.start..entry.end,
                });
            }
        }
        modules
    }

    fn resolve(&mut self, job: &Job) -> Resolution {
        let entries = maps::parse(&job.maps);
        let modules = self.modules(&entries);
        let (addresses, note) = unwind(job, &modules);
        let frames = addresses
            .into_iter()
            .map(|address| {
                let lookup = address.address_for_lookup();
                let mapped = modules.iter().find(|m| m.range.contains(&lookup));
                let module = mapped.map(|m| m.file.path.clone()).or_else(|| {
                    maps::find(&entries, lookup)
                        .filter(|entry| !entry.path.is_empty())
                        .map(|entry| entry.path.clone())
                });
                let symbols = mapped
                    .map(|m| m.file.symbolize(lookup.wrapping_sub(m.bias)))
                    .unwrap_or_default();
                Frame {
                    address: address.address(),
                    module,
                    symbols,
                }
            })
            .collect();
        Resolution { frames, note }
    }
}

/// Unwinds the captured thread: at most [`MAX_FRAMES`] addresses, and a note when the
/// unwinder stopped on an error rather than at the stack's end.
fn unwind(job: &Job, modules: &[Mapped]) -> (Vec<FrameAddress>, Option<String>) {
    let mut read_stack = |address: u64| -> Result<u64, ()> {
        let offset =
            usize::try_from(address.checked_sub(job.stack_start).ok_or(())?).map_err(|_| ())?;
        let bytes = job
            .stack
            .get(offset..offset.checked_add(8).ok_or(())?)
            .ok_or(())?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| ())?))
    };
    let module = |m: &Mapped| {
        Module::new(
            m.file.path.clone(),
            m.range.clone(),
            m.bias,
            m.file.section_info(),
        )
    };
    let mut frames = Vec::new();
    let mut note = None;
    let mut collect = |next: &mut dyn FnMut() -> Result<Option<FrameAddress>, framehop::Error>| {
        while frames.len() < MAX_FRAMES {
            match next() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => return,
                Err(error) => {
                    note = Some(format!("unwinding stopped: {error}"));
                    return;
                }
            }
        }
        note = Some(format!("cut at {MAX_FRAMES} frames"));
    };
    match job.arch {
        ARCH_X86_64 => {
            let mut unwinder = UnwinderX86_64::new();
            for m in modules {
                unwinder.add_module(module(m));
            }
            let mut cache = CacheX86_64::new();
            let regs = UnwindRegsX86_64::new(job.pc, job.sp, job.fp);
            let mut iter = unwinder.iter_frames(job.pc, regs, &mut cache, &mut read_stack);
            collect(&mut || iter.next());
        }
        ARCH_AARCH64 => {
            let mut unwinder = UnwinderAarch64::new();
            for m in modules {
                unwinder.add_module(module(m));
            }
            // Return addresses may carry pointer-authentication bits above the highest code
            // address: strip them.
            let mask = PtrAuthMask::from_max_known_address(unwinder.max_known_code_address());
            let mut cache = CacheAarch64::new();
            let regs = UnwindRegsAarch64::new_with_ptr_auth_mask(mask, job.lr, job.sp, job.fp);
            let pc = mask.strip_ptr_auth(job.pc);
            let mut iter = unwinder.iter_frames(pc, regs, &mut cache, &mut read_stack);
            collect(&mut || iter.next());
        }
        _ => {
            frames.push(FrameAddress::from_instruction_pointer(job.pc));
            note = Some("unknown architecture: program counter only".to_owned());
        }
    }
    (frames, note)
}
