/*
 * Hardware access for unprivileged drivers: IRQ objects and I/O port ranges
 * (system calls in syscall.h, waits in queue.h). Both are made from the root
 * handle (ALDER_OBJ_ROOT with ALDER_RIGHT_MANAGE; init finds it at
 * ALDER_HANDLE_ROOT) and then handed to the driver that needs them.
 *
 * IRQ objects (ALDER_OBJ_IRQ): one driver's claim on an interrupt line.
 *
 *   SYS_IRQ_CREATE(root, gsi, flags) -> irq handle
 *     Claim global system interrupt gsi. flags: 0 for what the firmware says
 *     (an ACPI interrupt source override naming the GSI; else ISA lines,
 *     GSI < 16, are edge/active high and the others PCI level/active low),
 *     or one ALDER_IRQ_EDGE/LEVEL and/or one ALDER_IRQ_HIGH/LOW to override.
 *     Several IRQ objects may claim the same GSI (a shared line); the first
 *     claim routes the line, and a later claim whose explicit flags disagree
 *     with how it is routed is refused.
 *     Rights of the new handle: READ (wait), WRITE (acknowledge), TRANSFER,
 *     DUPLICATE.
 *     Errors: -EBADF/-EBADFD/-EACCES (root), -EINVAL (no IOAPIC serves gsi,
 *     gsi >= 2^32, unknown flag bits, both bits of a pair), -EBUSY (the
 *     kernel uses the line itself, e.g. the serial console; or the flags
 *     disagree with the line's routing), -ENOSPC (no interrupt vector left),
 *     -ENOMEM.
 *
 *   ALDER_OP_IRQ_WAIT (queue.h): handle = irq (READ), args[0] = the last
 *     sequence number the driver has seen (0 at first), args[1..3] = 0.
 *     Each interrupt on the line gets the next sequence number (1, 2, ...;
 *     the same number for every claimant). The wait completes, with the
 *     line's current sequence number as its result, as soon as that is
 *     newer than args[0] and than the line's number when this object was
 *     created (a claimant never hears of interrupts from before its claim)
 *     -- at once if it already is. A result may skip numbers: only the
 *     newest matters. Errors in the CQE: -EBADF/-EBADFD/-EACCES,
 *     -EINVAL (args[0] newer than the line's sequence, args[1..3] not 0),
 *     -ECANCELED (ALDER_OP_CANCEL, or the IRQ object was destroyed: its last
 *     handle closed), -ENOMEM.
 *
 *   SYS_IRQ_ACK(irq, sequence, ack): answer interrupt `sequence` (WRITE).
 *     ack = 1: "mine, handled" (the device no longer asserts it);
 *     ack = 0: "not mine" (nack). Every claimant that existed when the
 *     interrupt arrived must answer it, exactly once, for the current
 *     sequence. Errors: -EINVAL (ack not 0/1; sequence is not the line's
 *     current one, or this object has already answered it, or it arrived
 *     before this object existed).
 *
 *   The line and its answers (the unmask policy):
 *   - Level-triggered: the kernel masks the line when the interrupt
 *     arrives. It unmasks it when every claimant that existed at that
 *     moment has answered (a claimant destroyed meanwhile counts as a nack)
 *     and at least one of them acked. So a driver answers after it has made
 *     its device stop asserting the line.
 *   - Edge-triggered: the line stays unmasked while answers are pending, so
 *     no edge is lost; a further edge before the answers are in masks the
 *     line and is remembered. When the answers are in (one ack at least),
 *     a remembered edge starts the next sequence at once and the line is
 *     unmasked. Edges are thus coalesced, never lost, and delivered at most
 *     one sequence at a time.
 *   - Nobody's: when every claimant nacked, the line is left MASKED (never
 *     stormed) and the kernel logs a warning, once per routing of the line.
 *     It is unmasked again when a new IRQ object claims the line (the new
 *     driver may own the device). If nobody acked but a claimant that
 *     joined during the round exists, the line is unmasked for it instead.
 *   - Unanswered: a claimant that never answers holds the round open, so no
 *     further interrupt is delivered on the line (a level line stays masked;
 *     an edge line is masked at its next edge) until it answers or is
 *     destroyed. There is no timeout: a hung driver's line stays quiet,
 *     never stormed; its supervisor restarts it (destroying its objects).
 *   - A wait on a masked (parked or unanswered) line simply stays pending.
 *   - Destroying an IRQ object (its last handle closed) cancels its waits
 *     (-ECANCELED), counts as a nack for an interrupt it had not answered,
 *     and, for the last claimant, masks the line and frees its vector.
 *
 * I/O port ranges (ALDER_OBJ_IOPORT):
 *
 *   SYS_IOPORT_CREATE(root, base, count) -> ioport handle: ports
 *     [base, base + count), inside 0..0xffff, count 1..0x10000.
 *     Rights: READ, WRITE, TRANSFER, DUPLICATE.
 *     Errors: -EBADF/-EBADFD/-EACCES (root), -EINVAL (count 0 or too big,
 *     a range past 0xffff), -ENOMEM.
 *   SYS_IOPORT_ENABLE(ioport): from now on the CALLING THREAD may use
 *     in/out (and ins/outs) on those ports; READ and WRITE needed. The
 *     permission belongs to the thread and lasts until it exits; closing the
 *     handle does not revoke it. Other threads, even of the same process,
 *     are not affected. Errors: -EBADF/-EBADFD/-EACCES, -ENOMEM.
 *   A port the thread has not been given access to faults (#GP, vector 13),
 *   which kills the process like any other fault.
 */
#ifndef ALDER_ABI_HW_H
#define ALDER_ABI_HW_H

/* SYS_IRQ_CREATE flags: at most one of each pair; 0 in a pair = firmware's. */
#define ALDER_IRQ_EDGE 0x1u
#define ALDER_IRQ_LEVEL 0x2u
#define ALDER_IRQ_HIGH 0x4u /* active high */
#define ALDER_IRQ_LOW 0x8u  /* active low */
#define ALDER_IRQ_FLAGS_ALL 0xfu

/* SYS_IRQ_ACK answers. */
#define ALDER_IRQ_NACK 0u
#define ALDER_IRQ_ACK 1u

#define ALDER_IOPORT_LIMIT 0x10000u /* ports are 0 .. ALDER_IOPORT_LIMIT - 1 */

#endif
