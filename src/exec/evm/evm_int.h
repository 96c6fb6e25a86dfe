/* Private to src/exec/evm: 256-bit operations the interpreter needs beyond
 * util/u256.h (signed division, modular arithmetic with a 512-bit
 * intermediate, exponentiation, shifts, SIGNEXTEND, BYTE). All pure and
 * total; results may alias inputs. Exposed here so the unit tests can check
 * them directly. */
#ifndef TALLY_EXEC_EVM_EVM_INT_H
#define TALLY_EXEC_EVM_EVM_INT_H
#include <stddef.h>
#include <stdint.h>
#include "util/u256.h"

/* q = a / b, r = a % b (either may be NULL); b == 0 gives q = r = 0 (EVM
 * DIV/MOD). Knuth's algorithm D on 64-bit limbs. */
void evm__divmod(u256 *q, u256 *r, const u256 *a, const u256 *b);
/* Two's-complement SDIV / SMOD: quotient truncated toward zero, remainder
 * takes the dividend's sign; b == 0 gives 0; -2^255 / -1 = -2^255. */
void evm__sdiv(u256 *r, const u256 *a, const u256 *b);
void evm__smod(u256 *r, const u256 *a, const u256 *b);
/* (a + b) % m and (a * b) % m without wrapping at 2^256; m == 0 gives 0. */
void evm__addmod(u256 *r, const u256 *a, const u256 *b, const u256 *m);
void evm__mulmod(u256 *r, const u256 *a, const u256 *b, const u256 *m);
/* base^e mod 2^256. */
void evm__exp(u256 *r, const u256 *base, const u256 *e);
/* Shifts by n bits; n >= 256 gives 0 (SAR: 0 or all ones by the sign). */
void evm__shl(u256 *r, const u256 *a, const u256 *n);
void evm__shr(u256 *r, const u256 *a, const u256 *n);
void evm__sar(u256 *r, const u256 *a, const u256 *n);
/* SIGNEXTEND: extend x from byte b (0 = least significant); b >= 31 gives x. */
void evm__signextend(u256 *r, const u256 *b, const u256 *x);
/* BYTE: byte i of x counting from the most significant (i >= 32 gives 0). */
void evm__byte(u256 *r, const u256 *i, const u256 *x);
/* Signed comparison: -1, 0, 1. */
int evm__scmp(const u256 *a, const u256 *b);
/* Number of bytes in the minimal big-endian form of a (0 for zero). */
unsigned evm__byte_len(const u256 *a);

/* The Cancun opcode list, one X-macro that makes the opcode enum, the names
 * and the static part of every opcode's gas and stack effect:
 * X(code, name, base gas, stack items read, stack items written). Base gas
 * of the opcodes with dynamic parts (memory, copies, cold access, EXP bytes,
 * LOG data, SSTORE, calls) is only the constant part; the interpreter
 * charges the rest. */
#define EVM_OPCODES(X)               \
    X(0x00, STOP, 0, 0, 0)           \
    X(0x01, ADD, 3, 2, 1)            \
    X(0x02, MUL, 5, 2, 1)            \
    X(0x03, SUB, 3, 2, 1)            \
    X(0x04, DIV, 5, 2, 1)            \
    X(0x05, SDIV, 5, 2, 1)           \
    X(0x06, MOD, 5, 2, 1)            \
    X(0x07, SMOD, 5, 2, 1)           \
    X(0x08, ADDMOD, 8, 3, 1)         \
    X(0x09, MULMOD, 8, 3, 1)         \
    X(0x0a, EXP, 10, 2, 1)           \
    X(0x0b, SIGNEXTEND, 5, 2, 1)     \
    X(0x10, LT, 3, 2, 1)             \
    X(0x11, GT, 3, 2, 1)             \
    X(0x12, SLT, 3, 2, 1)            \
    X(0x13, SGT, 3, 2, 1)            \
    X(0x14, EQ, 3, 2, 1)             \
    X(0x15, ISZERO, 3, 1, 1)         \
    X(0x16, AND, 3, 2, 1)            \
    X(0x17, OR, 3, 2, 1)             \
    X(0x18, XOR, 3, 2, 1)            \
    X(0x19, NOT, 3, 1, 1)            \
    X(0x1a, BYTE, 3, 2, 1)           \
    X(0x1b, SHL, 3, 2, 1)            \
    X(0x1c, SHR, 3, 2, 1)            \
    X(0x1d, SAR, 3, 2, 1)            \
    X(0x20, KECCAK256, 30, 2, 1)     \
    X(0x30, ADDRESS, 2, 0, 1)        \
    X(0x31, BALANCE, 100, 1, 1)      \
    X(0x32, ORIGIN, 2, 0, 1)         \
    X(0x33, CALLER, 2, 0, 1)         \
    X(0x34, CALLVALUE, 2, 0, 1)      \
    X(0x35, CALLDATALOAD, 3, 1, 1)   \
    X(0x36, CALLDATASIZE, 2, 0, 1)   \
    X(0x37, CALLDATACOPY, 3, 3, 0)   \
    X(0x38, CODESIZE, 2, 0, 1)       \
    X(0x39, CODECOPY, 3, 3, 0)       \
    X(0x3a, GASPRICE, 2, 0, 1)       \
    X(0x3b, EXTCODESIZE, 100, 1, 1)  \
    X(0x3c, EXTCODECOPY, 100, 4, 0)  \
    X(0x3d, RETURNDATASIZE, 2, 0, 1) \
    X(0x3e, RETURNDATACOPY, 3, 3, 0) \
    X(0x3f, EXTCODEHASH, 100, 1, 1)  \
    X(0x40, BLOCKHASH, 20, 1, 1)     \
    X(0x41, COINBASE, 2, 0, 1)       \
    X(0x42, TIMESTAMP, 2, 0, 1)      \
    X(0x43, NUMBER, 2, 0, 1)         \
    X(0x44, PREVRANDAO, 2, 0, 1)     \
    X(0x45, GASLIMIT, 2, 0, 1)       \
    X(0x46, CHAINID, 2, 0, 1)        \
    X(0x47, SELFBALANCE, 5, 0, 1)    \
    X(0x48, BASEFEE, 2, 0, 1)        \
    X(0x49, BLOBHASH, 3, 1, 1)       \
    X(0x4a, BLOBBASEFEE, 2, 0, 1)    \
    X(0x50, POP, 2, 1, 0)            \
    X(0x51, MLOAD, 3, 1, 1)          \
    X(0x52, MSTORE, 3, 2, 0)         \
    X(0x53, MSTORE8, 3, 2, 0)        \
    X(0x54, SLOAD, 100, 1, 1)        \
    X(0x55, SSTORE, 0, 2, 0)         \
    X(0x56, JUMP, 8, 1, 0)           \
    X(0x57, JUMPI, 10, 2, 0)         \
    X(0x58, PC, 2, 0, 1)             \
    X(0x59, MSIZE, 2, 0, 1)          \
    X(0x5a, GAS, 2, 0, 1)            \
    X(0x5b, JUMPDEST, 1, 0, 0)       \
    X(0x5c, TLOAD, 100, 1, 1)        \
    X(0x5d, TSTORE, 100, 2, 0)       \
    X(0x5e, MCOPY, 3, 3, 0)          \
    X(0x5f, PUSH0, 2, 0, 1)          \
    X(0x60, PUSH1, 3, 0, 1)          \
    X(0x61, PUSH2, 3, 0, 1)          \
    X(0x62, PUSH3, 3, 0, 1)          \
    X(0x63, PUSH4, 3, 0, 1)          \
    X(0x64, PUSH5, 3, 0, 1)          \
    X(0x65, PUSH6, 3, 0, 1)          \
    X(0x66, PUSH7, 3, 0, 1)          \
    X(0x67, PUSH8, 3, 0, 1)          \
    X(0x68, PUSH9, 3, 0, 1)          \
    X(0x69, PUSH10, 3, 0, 1)         \
    X(0x6a, PUSH11, 3, 0, 1)         \
    X(0x6b, PUSH12, 3, 0, 1)         \
    X(0x6c, PUSH13, 3, 0, 1)         \
    X(0x6d, PUSH14, 3, 0, 1)         \
    X(0x6e, PUSH15, 3, 0, 1)         \
    X(0x6f, PUSH16, 3, 0, 1)         \
    X(0x70, PUSH17, 3, 0, 1)         \
    X(0x71, PUSH18, 3, 0, 1)         \
    X(0x72, PUSH19, 3, 0, 1)         \
    X(0x73, PUSH20, 3, 0, 1)         \
    X(0x74, PUSH21, 3, 0, 1)         \
    X(0x75, PUSH22, 3, 0, 1)         \
    X(0x76, PUSH23, 3, 0, 1)         \
    X(0x77, PUSH24, 3, 0, 1)         \
    X(0x78, PUSH25, 3, 0, 1)         \
    X(0x79, PUSH26, 3, 0, 1)         \
    X(0x7a, PUSH27, 3, 0, 1)         \
    X(0x7b, PUSH28, 3, 0, 1)         \
    X(0x7c, PUSH29, 3, 0, 1)         \
    X(0x7d, PUSH30, 3, 0, 1)         \
    X(0x7e, PUSH31, 3, 0, 1)         \
    X(0x7f, PUSH32, 3, 0, 1)         \
    X(0x80, DUP1, 3, 1, 2)           \
    X(0x81, DUP2, 3, 2, 3)           \
    X(0x82, DUP3, 3, 3, 4)           \
    X(0x83, DUP4, 3, 4, 5)           \
    X(0x84, DUP5, 3, 5, 6)           \
    X(0x85, DUP6, 3, 6, 7)           \
    X(0x86, DUP7, 3, 7, 8)           \
    X(0x87, DUP8, 3, 8, 9)           \
    X(0x88, DUP9, 3, 9, 10)          \
    X(0x89, DUP10, 3, 10, 11)        \
    X(0x8a, DUP11, 3, 11, 12)        \
    X(0x8b, DUP12, 3, 12, 13)        \
    X(0x8c, DUP13, 3, 13, 14)        \
    X(0x8d, DUP14, 3, 14, 15)        \
    X(0x8e, DUP15, 3, 15, 16)        \
    X(0x8f, DUP16, 3, 16, 17)        \
    X(0x90, SWAP1, 3, 2, 2)          \
    X(0x91, SWAP2, 3, 3, 3)          \
    X(0x92, SWAP3, 3, 4, 4)          \
    X(0x93, SWAP4, 3, 5, 5)          \
    X(0x94, SWAP5, 3, 6, 6)          \
    X(0x95, SWAP6, 3, 7, 7)          \
    X(0x96, SWAP7, 3, 8, 8)          \
    X(0x97, SWAP8, 3, 9, 9)          \
    X(0x98, SWAP9, 3, 10, 10)        \
    X(0x99, SWAP10, 3, 11, 11)       \
    X(0x9a, SWAP11, 3, 12, 12)       \
    X(0x9b, SWAP12, 3, 13, 13)       \
    X(0x9c, SWAP13, 3, 14, 14)       \
    X(0x9d, SWAP14, 3, 15, 15)       \
    X(0x9e, SWAP15, 3, 16, 16)       \
    X(0x9f, SWAP16, 3, 17, 17)       \
    X(0xa0, LOG0, 375, 2, 0)         \
    X(0xa1, LOG1, 750, 3, 0)         \
    X(0xa2, LOG2, 1125, 4, 0)        \
    X(0xa3, LOG3, 1500, 5, 0)        \
    X(0xa4, LOG4, 1875, 6, 0)        \
    X(0xf0, CREATE, 32000, 3, 1)     \
    X(0xf1, CALL, 100, 7, 1)         \
    X(0xf2, CALLCODE, 100, 7, 1)     \
    X(0xf3, RETURN, 0, 2, 0)         \
    X(0xf4, DELEGATECALL, 100, 6, 1) \
    X(0xf5, CREATE2, 32000, 4, 1)    \
    X(0xfa, STATICCALL, 100, 6, 1)   \
    X(0xfd, REVERT, 0, 2, 0)         \
    X(0xfe, INVALID, 0, 0, 0)        \
    X(0xff, SELFDESTRUCT, 5000, 1, 0)

enum evm_opcode {
#define EVM__OP_ENUM(code, name, gas, in, out) OP_##name = code,
    EVM_OPCODES(EVM__OP_ENUM)
#undef EVM__OP_ENUM
};

#endif
