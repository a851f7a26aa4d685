*** Settings ***
Documentation     Models fit the boards' datasheet memory or are refused at build time with the
...               numbers, never built into a firmware that misbehaves.
Resource          trecsim.resource

*** Test Cases ***
Dense CifarNet Fits Both Boards With A Small Stack Peak
    Load Board And Model    stm32f469i-disco    cifarnet    dense
    Run Image    0
    Stack Peak Should Be Below    4 KB
    Load Board And Model    nucleo-f746zg    cifarnet    dense
    Run Image    0
    Stack Peak Should Be Below    4 KB

Space-Efficient TREC CifarNet Needs No More SRAM Than Dense, Within 5 Percent, On Both Boards
    FOR    ${board}    IN    stm32f469i-disco    nucleo-f746zg
        Load Board And Model    ${board}    cifarnet    dense
        Run Image    0
        Remember SRAM Peak As    dense
        Load Board And Model    ${board}    cifarnet    se-trec
        Run Image    0
        SRAM Peak Should Be Within Percent Of    5    dense
    END

Plain TREC CifarNet Does Not Fit The NUCLEO-F746ZG, Which Has No SDRAM
    Load Board And Model    nucleo-f746zg    cifarnet    trec
    Model Should Not Fit    conv2    scratch    bytes over    se-trec

Plain TREC CifarNet Fits The STM32F469I-DISCO By Spilling To SDRAM
    Load Board And Model    stm32f469i-disco    cifarnet    trec
    Build Firmware
    Run Image    0
    Outputs Should Match Golden

Space-Efficient TREC CifarNet Fits The NUCLEO-F746ZG
    Load Board And Model    nucleo-f746zg    cifarnet    se-trec
    Build Firmware
    Run Image    0
    Outputs Should Match Golden

Plain TREC SqueezeNet Does Not Fit The NUCLEO-F746ZG, Which Has No SDRAM
    Load Board And Model    nucleo-f746zg    squeezenet    trec
    Model Should Not Fit    fire3.expand3    scratch    bytes over    se-trec

Plain TREC ZfNet Does Not Fit The NUCLEO-F746ZG, Which Has No SDRAM
    Load Board And Model    nucleo-f746zg    zfnet    trec
    Model Should Not Fit    conv2    scratch    bytes over    se-trec

Space-Efficient TREC SqueezeNet Fits The NUCLEO-F746ZG
    Load Board And Model    nucleo-f746zg    squeezenet    se-trec
    Build Firmware
    Run Image    0
    Outputs Should Match Golden

A Model With More Weights Than Flash Is Refused By The NUCLEO-F746ZG With The Numbers
    Load Board    nucleo-f746zg
    Load Synthetic Model    weights=1536 KB
    Model Should Not Fit    bytes of flash    1048576    stm32f469i-disco

A Model With Activations Larger Than Every SRAM Region Is Refused By The NUCLEO-F746ZG
    Load Board    nucleo-f746zg
    Load Synthetic Model    weights=16 KB    activations=300 KB
    Model Should Not Fit    fits no RAM region    bytes over
