*** Settings ***
Documentation     The board descriptions in platforms/ follow the datasheets
...               (ARCHITECTURE.md's table), and the command line shows them.
Resource          trecsim.resource

*** Test Cases ***
The STM32F469I-DISCO Has A Cortex-M4F At 180 MHz With Its Datasheet Memory
    Load Board                    stm32f469i-disco
    Board Should Have Core        cortex-m4f    180
    Memory Region Should Be       flash    flash    0x08000000    2 MB
    Memory Region Should Be       sram1    sram     0x20000000    160 KB
    Memory Region Should Be       sram2    sram     0x20028000    32 KB
    Memory Region Should Be       sram3    sram     0x20030000    128 KB
    Memory Region Should Be       ccm      ccm      0x10000000    64 KB
    Memory Region Should Be       sdram    sdram    0xC0000000    16 MB

The NUCLEO-F746ZG Has A Cortex-M7 At 216 MHz With TCM And No External Memory
    Load Board                    nucleo-f746zg
    Board Should Have Core        cortex-m7    216
    Memory Region Should Be       flash    flash    0x08000000    1 MB
    Memory Region Should Be       itcm     itcm     0x00000000    16 KB
    Memory Region Should Be       dtcm     dtcm     0x20000000    64 KB
    Memory Region Should Be       sram1    sram     0x20010000    240 KB
    Memory Region Should Be       sram2    sram     0x2004C000    16 KB
    Board Should Have No Region Of Kind    sdram

Board Names Are Matched Without Regard To Case
    Load Board                    STM32F469I-DISCO
    Board Should Have Core        cortex-m4f    180

Listing The Boards Shows Both With Their Memory Regions
    Run Trecsim                   boards
    Command Should Succeed
    Output Should Contain         stm32f469i-disco    nucleo-f746zg    0x20000000    0xC0000000    ccm    dtcm

An Unknown Board Is Refused With The List Of Valid Names
    Run Trecsim                   boards    stm32f407-disco
    Command Should Fail With Message    stm32f407-disco    stm32f469i-disco    nucleo-f746zg
