/*
 * Interrupt and exception entry stubs. Every vector pushes an error code (0
 * when the CPU does not) and its number, then joins isr_common, which saves
 * the registers as a struct trap_frame (arch/trap.h), swaps GS when coming
 * from user mode, and calls trap_dispatch(frame).
 */
#include <arch/trap.h>

	.text
.macro ISR n, err
	.align 16
isr_\n:
	.if \err == 0
	pushq $0
	.endif
	pushq $\n
	jmp isr_common
.endm

/* Vectors with a CPU-pushed error code: 8, 10-14, 17, 21, 29, 30. */
ISR 0, 0
ISR 1, 0
ISR 2, 0
ISR 3, 0
ISR 4, 0
ISR 5, 0
ISR 6, 0
ISR 7, 0
ISR 8, 1
ISR 9, 0
ISR 10, 1
ISR 11, 1
ISR 12, 1
ISR 13, 1
ISR 14, 1
ISR 15, 0
ISR 16, 0
ISR 17, 1
ISR 18, 0
ISR 19, 0
ISR 20, 0
ISR 21, 1
ISR 22, 0
ISR 23, 0
ISR 24, 0
ISR 25, 0
ISR 26, 0
ISR 27, 0
ISR 28, 0
ISR 29, 1
ISR 30, 1
ISR 31, 0
ISR 32, 0
ISR 33, 0
ISR 34, 0
ISR 35, 0
ISR 36, 0
ISR 37, 0
ISR 38, 0
ISR 39, 0
ISR 40, 0
ISR 41, 0
ISR 42, 0
ISR 43, 0
ISR 44, 0
ISR 45, 0
ISR 46, 0
ISR 47, 0
ISR 48, 0
ISR 49, 0
ISR 50, 0
ISR 51, 0
ISR 52, 0
ISR 53, 0
ISR 54, 0
ISR 55, 0
ISR 56, 0
ISR 57, 0
ISR 58, 0
ISR 59, 0
ISR 60, 0
ISR 61, 0
ISR 62, 0
ISR 63, 0
ISR 64, 0
ISR 65, 0
ISR 66, 0
ISR 67, 0
ISR 68, 0
ISR 69, 0
ISR 70, 0
ISR 71, 0
ISR 72, 0
ISR 73, 0
ISR 74, 0
ISR 75, 0
ISR 76, 0
ISR 77, 0
ISR 78, 0
ISR 79, 0
ISR 80, 0
ISR 81, 0
ISR 82, 0
ISR 83, 0
ISR 84, 0
ISR 85, 0
ISR 86, 0
ISR 87, 0
ISR 88, 0
ISR 89, 0
ISR 90, 0
ISR 91, 0
ISR 92, 0
ISR 93, 0
ISR 94, 0
ISR 95, 0
ISR 96, 0
ISR 97, 0
ISR 98, 0
ISR 99, 0
ISR 100, 0
ISR 101, 0
ISR 102, 0
ISR 103, 0
ISR 104, 0
ISR 105, 0
ISR 106, 0
ISR 107, 0
ISR 108, 0
ISR 109, 0
ISR 110, 0
ISR 111, 0
ISR 112, 0
ISR 113, 0
ISR 114, 0
ISR 115, 0
ISR 116, 0
ISR 117, 0
ISR 118, 0
ISR 119, 0
ISR 120, 0
ISR 121, 0
ISR 122, 0
ISR 123, 0
ISR 124, 0
ISR 125, 0
ISR 126, 0
ISR 127, 0
ISR 128, 0
ISR 129, 0
ISR 130, 0
ISR 131, 0
ISR 132, 0
ISR 133, 0
ISR 134, 0
ISR 135, 0
ISR 136, 0
ISR 137, 0
ISR 138, 0
ISR 139, 0
ISR 140, 0
ISR 141, 0
ISR 142, 0
ISR 143, 0
ISR 144, 0
ISR 145, 0
ISR 146, 0
ISR 147, 0
ISR 148, 0
ISR 149, 0
ISR 150, 0
ISR 151, 0
ISR 152, 0
ISR 153, 0
ISR 154, 0
ISR 155, 0
ISR 156, 0
ISR 157, 0
ISR 158, 0
ISR 159, 0
ISR 160, 0
ISR 161, 0
ISR 162, 0
ISR 163, 0
ISR 164, 0
ISR 165, 0
ISR 166, 0
ISR 167, 0
ISR 168, 0
ISR 169, 0
ISR 170, 0
ISR 171, 0
ISR 172, 0
ISR 173, 0
ISR 174, 0
ISR 175, 0
ISR 176, 0
ISR 177, 0
ISR 178, 0
ISR 179, 0
ISR 180, 0
ISR 181, 0
ISR 182, 0
ISR 183, 0
ISR 184, 0
ISR 185, 0
ISR 186, 0
ISR 187, 0
ISR 188, 0
ISR 189, 0
ISR 190, 0
ISR 191, 0
ISR 192, 0
ISR 193, 0
ISR 194, 0
ISR 195, 0
ISR 196, 0
ISR 197, 0
ISR 198, 0
ISR 199, 0
ISR 200, 0
ISR 201, 0
ISR 202, 0
ISR 203, 0
ISR 204, 0
ISR 205, 0
ISR 206, 0
ISR 207, 0
ISR 208, 0
ISR 209, 0
ISR 210, 0
ISR 211, 0
ISR 212, 0
ISR 213, 0
ISR 214, 0
ISR 215, 0
ISR 216, 0
ISR 217, 0
ISR 218, 0
ISR 219, 0
ISR 220, 0
ISR 221, 0
ISR 222, 0
ISR 223, 0
ISR 224, 0
ISR 225, 0
ISR 226, 0
ISR 227, 0
ISR 228, 0
ISR 229, 0
ISR 230, 0
ISR 231, 0
ISR 232, 0
ISR 233, 0
ISR 234, 0
ISR 235, 0
ISR 236, 0
ISR 237, 0
ISR 238, 0
ISR 239, 0
ISR 240, 0
ISR 241, 0
ISR 242, 0
ISR 243, 0
ISR 244, 0
ISR 245, 0
ISR 246, 0
ISR 247, 0
ISR 248, 0
ISR 249, 0
ISR 250, 0
ISR 251, 0
ISR 252, 0
ISR 253, 0
ISR 254, 0
ISR 255, 0

isr_common:
	testb $3, 24(%rsp)               /* CS of the interrupted context */
	jz 1f
	swapgs
1:	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	pushfq                           /* clear AC: a user-copy window must */
	andq $~(1 << 18), (%rsp)         /* not stay open in the handler */
	popfq
	mov %rsp, %rdi
	call trap_dispatch
	.globl trap_return
trap_return:
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp                   /* vector, error */
	testb $3, 8(%rsp)
	jz 2f
	swapgs
2:	iretq

	.section .rodata
	.globl isr_table
	.align 8
isr_table:
	.quad isr_0
	.quad isr_1
	.quad isr_2
	.quad isr_3
	.quad isr_4
	.quad isr_5
	.quad isr_6
	.quad isr_7
	.quad isr_8
	.quad isr_9
	.quad isr_10
	.quad isr_11
	.quad isr_12
	.quad isr_13
	.quad isr_14
	.quad isr_15
	.quad isr_16
	.quad isr_17
	.quad isr_18
	.quad isr_19
	.quad isr_20
	.quad isr_21
	.quad isr_22
	.quad isr_23
	.quad isr_24
	.quad isr_25
	.quad isr_26
	.quad isr_27
	.quad isr_28
	.quad isr_29
	.quad isr_30
	.quad isr_31
	.quad isr_32
	.quad isr_33
	.quad isr_34
	.quad isr_35
	.quad isr_36
	.quad isr_37
	.quad isr_38
	.quad isr_39
	.quad isr_40
	.quad isr_41
	.quad isr_42
	.quad isr_43
	.quad isr_44
	.quad isr_45
	.quad isr_46
	.quad isr_47
	.quad isr_48
	.quad isr_49
	.quad isr_50
	.quad isr_51
	.quad isr_52
	.quad isr_53
	.quad isr_54
	.quad isr_55
	.quad isr_56
	.quad isr_57
	.quad isr_58
	.quad isr_59
	.quad isr_60
	.quad isr_61
	.quad isr_62
	.quad isr_63
	.quad isr_64
	.quad isr_65
	.quad isr_66
	.quad isr_67
	.quad isr_68
	.quad isr_69
	.quad isr_70
	.quad isr_71
	.quad isr_72
	.quad isr_73
	.quad isr_74
	.quad isr_75
	.quad isr_76
	.quad isr_77
	.quad isr_78
	.quad isr_79
	.quad isr_80
	.quad isr_81
	.quad isr_82
	.quad isr_83
	.quad isr_84
	.quad isr_85
	.quad isr_86
	.quad isr_87
	.quad isr_88
	.quad isr_89
	.quad isr_90
	.quad isr_91
	.quad isr_92
	.quad isr_93
	.quad isr_94
	.quad isr_95
	.quad isr_96
	.quad isr_97
	.quad isr_98
	.quad isr_99
	.quad isr_100
	.quad isr_101
	.quad isr_102
	.quad isr_103
	.quad isr_104
	.quad isr_105
	.quad isr_106
	.quad isr_107
	.quad isr_108
	.quad isr_109
	.quad isr_110
	.quad isr_111
	.quad isr_112
	.quad isr_113
	.quad isr_114
	.quad isr_115
	.quad isr_116
	.quad isr_117
	.quad isr_118
	.quad isr_119
	.quad isr_120
	.quad isr_121
	.quad isr_122
	.quad isr_123
	.quad isr_124
	.quad isr_125
	.quad isr_126
	.quad isr_127
	.quad isr_128
	.quad isr_129
	.quad isr_130
	.quad isr_131
	.quad isr_132
	.quad isr_133
	.quad isr_134
	.quad isr_135
	.quad isr_136
	.quad isr_137
	.quad isr_138
	.quad isr_139
	.quad isr_140
	.quad isr_141
	.quad isr_142
	.quad isr_143
	.quad isr_144
	.quad isr_145
	.quad isr_146
	.quad isr_147
	.quad isr_148
	.quad isr_149
	.quad isr_150
	.quad isr_151
	.quad isr_152
	.quad isr_153
	.quad isr_154
	.quad isr_155
	.quad isr_156
	.quad isr_157
	.quad isr_158
	.quad isr_159
	.quad isr_160
	.quad isr_161
	.quad isr_162
	.quad isr_163
	.quad isr_164
	.quad isr_165
	.quad isr_166
	.quad isr_167
	.quad isr_168
	.quad isr_169
	.quad isr_170
	.quad isr_171
	.quad isr_172
	.quad isr_173
	.quad isr_174
	.quad isr_175
	.quad isr_176
	.quad isr_177
	.quad isr_178
	.quad isr_179
	.quad isr_180
	.quad isr_181
	.quad isr_182
	.quad isr_183
	.quad isr_184
	.quad isr_185
	.quad isr_186
	.quad isr_187
	.quad isr_188
	.quad isr_189
	.quad isr_190
	.quad isr_191
	.quad isr_192
	.quad isr_193
	.quad isr_194
	.quad isr_195
	.quad isr_196
	.quad isr_197
	.quad isr_198
	.quad isr_199
	.quad isr_200
	.quad isr_201
	.quad isr_202
	.quad isr_203
	.quad isr_204
	.quad isr_205
	.quad isr_206
	.quad isr_207
	.quad isr_208
	.quad isr_209
	.quad isr_210
	.quad isr_211
	.quad isr_212
	.quad isr_213
	.quad isr_214
	.quad isr_215
	.quad isr_216
	.quad isr_217
	.quad isr_218
	.quad isr_219
	.quad isr_220
	.quad isr_221
	.quad isr_222
	.quad isr_223
	.quad isr_224
	.quad isr_225
	.quad isr_226
	.quad isr_227
	.quad isr_228
	.quad isr_229
	.quad isr_230
	.quad isr_231
	.quad isr_232
	.quad isr_233
	.quad isr_234
	.quad isr_235
	.quad isr_236
	.quad isr_237
	.quad isr_238
	.quad isr_239
	.quad isr_240
	.quad isr_241
	.quad isr_242
	.quad isr_243
	.quad isr_244
	.quad isr_245
	.quad isr_246
	.quad isr_247
	.quad isr_248
	.quad isr_249
	.quad isr_250
	.quad isr_251
	.quad isr_252
	.quad isr_253
	.quad isr_254
	.quad isr_255
