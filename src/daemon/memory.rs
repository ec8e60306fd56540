//! What the daemon does about its own memory: it is idle nearly always,
//! so glibc's defaults (an arena per thread, large blocks kept in the
//! heap after use) and the pages start-up touched once would otherwise
//! stay resident for nothing. Measured by bench/daemon.py's `rss`
//! scenario; each step says what it saved.

/// Sets glibc's allocator up for a daemon that is idle nearly always.
///
/// - One arena for all threads. By default each thread that allocates gets
///   an arena of its own (up to eight per core), each keeping freed memory
///   for itself; the daemon's threads (scheduler, admin API, log writer,
///   reaper, spawners, config loading) are idle nearly always, so the
///   extra arenas only held memory. Small allocations still go through each thread's
///   lock-free cache.
/// - Blocks of 128 KiB and more always come from `mmap` and go back to the
///   system when freed. By default glibc raises that threshold to the size
///   of each large block freed, so the next large blocks (an API answer
///   listing 10,000 jobs, the buffers of a reload) stay in the heap after
///   use: tens of MiB kept for the next request.
///
/// Must run before any thread is started.
pub(super) fn tune_malloc() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; called before the
    // process starts any other thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Returns the free memory inside the heap to the system. glibc only
/// trims the heap's top on its own; the free chunks a reload leaves
/// between live ones (the old jobs, the parser's buffers) otherwise stay
/// resident: 36 MiB after reloading 10,000 jobs.
pub(crate) fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Hands back the pages of the executable's never-written segments (code,
/// constants, the dynamic loader's relocation table) mapped so far.
///
/// Start-up runs much code that steady running never runs again (argument
/// and config parsing, the loader's relocations, setting up the API), and
/// the kernel maps file pages in 64 KiB windows around each page touched:
/// about 3 MiB of the executable stayed resident for nothing. The pages
/// stay in the page cache; whatever runs later maps its pages again with
/// minor faults (no disk I/O unless the system reclaimed them meanwhile).
/// Segments that are ever written (data, and the read-only data the loader
/// relocated) are left alone. Failure only means the pages stay resident.
pub(super) fn release_startup_pages() {
    unsafe extern "C" fn executable(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        _data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid dl_phdr_info for the duration
        // of the call, whose program headers are `dlpi_phnum` entries.
        let (base, headers) = unsafe {
            let info = &*info;
            (
                info.dlpi_addr,
                std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)),
            )
        };
        // SAFETY: plain system call.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let read_only = headers
            .iter()
            .filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0);
        for h in read_only {
            let (Ok(start), Ok(len)) = (
                usize::try_from(base + h.p_vaddr),
                usize::try_from(h.p_memsz),
            ) else {
                continue;
            };
            // Whole pages inside the segment only.
            let (first, end) = (start.next_multiple_of(page), (start + len) / page * page);
            if end > first {
                // SAFETY: the range lies in a mapped segment of the
                // executable that is never written; MADV_DONTNEED only drops
                // this process's mapping of its (clean, file-backed) pages.
                unsafe {
                    libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_DONTNEED)
                };
            }
        }
        // The executable is the first object; stop there.
        1
    }
    // SAFETY: the callback only reads what the loader passes it.
    unsafe { libc::dl_iterate_phdr(Some(executable), std::ptr::null_mut()) };
}
