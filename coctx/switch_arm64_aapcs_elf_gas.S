// Context switch for aarch64, AAPCS64, ELF, GNU as.
//
// Register-saving contract: the switch is an ordinary call, so the caller already spilled its
// caller-saved registers. AAPCS64 (6.1.1, 6.1.2) makes x19-x28, the frame pointer x29, the link
// register x30 (our return address), sp, and the low 64 bits of v8-v15 (d8-d15) callee-saved.
// FPCR's rounding/flush modes are also to be preserved across calls, so we carry FPCR too.
//
// Saved frame, lowest address first (the saved sp points at offset 0; 176 keeps sp 16-aligned):
//     0 x19 x20   16 x21 x22   32 x23 x24   48 x25 x26   64 x27 x28   80 x29 x30
//    96 d8 d9    112 d10 d11  128 d12 d13  144 d14 d15  160 fpcr      168 padding
// coctx/context.cc builds the same frame by hand for a context that has never run.

    .text
    .globl  cohook_switch_context
    .hidden cohook_switch_context
    .type   cohook_switch_context, %function
    .align  4
// void* cohook_switch_context(void** save_sp /*x0*/, void* load_sp /*x1*/, void* transfer /*x2*/)
cohook_switch_context:
    .cfi_startproc
    sub     sp, sp, #176
    .cfi_adjust_cfa_offset 176
    stp     x19, x20, [sp, #0]      // callee-saved general registers
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]     // frame pointer and return address
    stp     d8,  d9,  [sp, #96]     // callee-saved low halves of v8-v15
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr                // x9 is a scratch register: free to clobber
    str     x9, [sp, #160]

    mov     x9, sp                  // sp cannot be stored directly
    str     x9, [x0]                // publish where this context stopped
    mov     sp, x1                  // adopt the other context's stack

    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    mov     x0, x2                  // the resumed side sees `transfer` as its return value
    ret                             // branches to the restored x30
    .cfi_endproc
    .size   cohook_switch_context, .-cohook_switch_context

    .globl  cohook_context_entry
    .hidden cohook_context_entry
    .type   cohook_context_entry, %function
    .align  4
// First "return address" (x30) of a fresh context: make_context put the entry function in x19
// and its data in x20; the first switch's transfer value arrives in x0.
cohook_context_entry:
    .cfi_startproc
    .cfi_undefined x30              // outermost frame: unwinders stop here
    mov     x1, x0                  // arg 2: transfer
    mov     x0, x20                 // arg 1: data
    blr     x19
    brk     #0                      // an entry function must switch away, never return
    .cfi_endproc
    .size   cohook_context_entry, .-cohook_context_entry

    .section .note.GNU-stack,"",%progbits
