// Context switch for x86_64, System V ABI, ELF, GNU as.
//
// Register-saving contract (the whole of it): the switch is an ordinary function call, so the
// caller has already spilled every caller-saved register. We keep exactly what the SysV ABI
// (3.2.1, "Registers") makes callee-saved: rbx, rbp, r12-r15 and rsp, plus the MXCSR control
// bits and the x87 control word, which the ABI also requires a callee to preserve. Nothing
// else (no vector registers, no status flags) survives a call, so nothing else is saved.
//
// Saved frame, lowest address first (the saved stack pointer points at offset 0):
//    0  MXCSR (4 bytes) | x87 control word (2 bytes) | 2 bytes padding
//    8  r12   16 r13   24 r14   32 r15   40 rbx   48 rbp
//   56  return address
// coctx/context.cc builds the same frame by hand for a context that has never run.

    .text
    .globl  cohook_switch_context
    .hidden cohook_switch_context
    .type   cohook_switch_context, @function
    .align  16
// void* cohook_switch_context(void** save_sp /*rdi*/, void* load_sp /*rsi*/, void* transfer /*rdx*/)
cohook_switch_context:
    .cfi_startproc
    pushq   %rbp                // callee-saved (frame pointer)
    .cfi_adjust_cfa_offset 8
    pushq   %rbx                // callee-saved
    .cfi_adjust_cfa_offset 8
    pushq   %r15                // callee-saved
    .cfi_adjust_cfa_offset 8
    pushq   %r14                // callee-saved
    .cfi_adjust_cfa_offset 8
    pushq   %r13                // callee-saved
    .cfi_adjust_cfa_offset 8
    pushq   %r12                // callee-saved
    .cfi_adjust_cfa_offset 8
    subq    $8, %rsp            // room for the two FP control words
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)              // MXCSR control bits are callee-saved (rounding, FTZ, DAZ)
    fnstcw  4(%rsp)             // x87 control word is callee-saved (precision, rounding)

    movq    %rsp, (%rdi)        // publish where this context stopped
    movq    %rsi, %rsp          // adopt the other context's stack: from here on we run as it

    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r12
    popq    %r13
    popq    %r14
    popq    %r15
    popq    %rbx
    popq    %rbp
    movq    %rdx, %rax          // the resumed side sees `transfer` as its return value (rax)
    // Pop the resumed side's return address and jump to it, rather than `ret`: the return-stack
    // predictor holds *our* caller, so a `ret` here would always mispredict, while an indirect
    // jump is predicted from its history (a ping-pong alternates between two targets). The
    // stack pointer ends where `ret` would leave it.
    popq    %rcx                // rcx: caller-saved, free here
    jmp     *%rcx
    .cfi_endproc
    .size   cohook_switch_context, .-cohook_switch_context

    .globl  cohook_context_entry
    .hidden cohook_context_entry
    .type   cohook_context_entry, @function
    .align  16
// First "return address" of a fresh context. The frame made by make_context left the entry
// function in r12 and its data in r13; the first switch's transfer value is in rax. rsp is
// 16-byte aligned here, so the call below leaves the callee at rsp % 16 == 8 as the ABI wants.
cohook_context_entry:
    .cfi_startproc
    .cfi_undefined rip          // outermost frame: unwinders (libunwind, gdb) stop here
    movq    %r13, %rdi          // arg 1: data
    movq    %rax, %rsi          // arg 2: transfer
    callq   *%r12
    ud2                         // an entry function must switch away, never return
    .cfi_endproc
    .size   cohook_context_entry, .-cohook_context_entry

    .section .note.GNU-stack,"",%progbits   // the stack stays non-executable
