#include <stdio.h>

int main(void) {
        puts("hello from a kapsel multi-stage build");
        return 0;
}
