/* Reset for the MPS2 firmware and test programs: copies .data, clears .bss, runs constructors,
   then main; its return value becomes QEMU's exit status (semihosting). C, because C++ may not
   call main. */
#include <stdint.h>
#include <string.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start__, __bss_end__;
void __libc_init_array(void);
int main(void);
void board_start(void);
void mps2_exit(int code);

/* __libc_init_array calls these; the programs link no crti/crtn. */
void _init(void) {}
void _fini(void) {}
/* Static destructors register against it (crtbegin.o would define it). */
void* __dso_handle = 0;

void reset_handler(void) {
    memcpy(&__data_start, &__data_load, (size_t)((char*)&__data_end - (char*)&__data_start));
    memset(&__bss_start__, 0, (size_t)((char*)&__bss_end__ - (char*)&__bss_start__));
    board_start();
    __libc_init_array();
    mps2_exit(main());
}
