*** Settings ***
Documentation     Every board x model x mode runs its firmware in the emulator bit for bit like the
...               golden model on a few images of the bundled sample, and the profile command reports
...               it. Models not trained yet, and models that do not fit a board (memory.robot says
...               which must), are skipped with a message.
Resource          trecsim.resource
Test Template     Model Runs Bit Exact On A Few Images

*** Test Cases ***                                                      BOARD               MODEL         MODE
Dense CifarNet Runs Bit Exact On The STM32F469I-DISCO                   stm32f469i-disco    cifarnet      dense
Plain TREC CifarNet Runs Bit Exact On The STM32F469I-DISCO              stm32f469i-disco    cifarnet      trec
Space-Efficient TREC CifarNet Runs Bit Exact On The STM32F469I-DISCO    stm32f469i-disco    cifarnet      se-trec
Dense CifarNet Runs Bit Exact On The NUCLEO-F746ZG                      nucleo-f746zg       cifarnet      dense
Plain TREC CifarNet Runs Bit Exact On The NUCLEO-F746ZG                 nucleo-f746zg       cifarnet      trec
Space-Efficient TREC CifarNet Runs Bit Exact On The NUCLEO-F746ZG       nucleo-f746zg       cifarnet      se-trec
Dense ZfNet Runs Bit Exact On The STM32F469I-DISCO                      stm32f469i-disco    zfnet         dense
Plain TREC ZfNet Runs Bit Exact On The STM32F469I-DISCO                 stm32f469i-disco    zfnet         trec
Space-Efficient TREC ZfNet Runs Bit Exact On The STM32F469I-DISCO       stm32f469i-disco    zfnet         se-trec
Dense ZfNet Runs Bit Exact On The NUCLEO-F746ZG                         nucleo-f746zg       zfnet         dense
Plain TREC ZfNet Runs Bit Exact On The NUCLEO-F746ZG                    nucleo-f746zg       zfnet         trec
Space-Efficient TREC ZfNet Runs Bit Exact On The NUCLEO-F746ZG          nucleo-f746zg       zfnet         se-trec
Dense SqueezeNet Runs Bit Exact On The STM32F469I-DISCO                 stm32f469i-disco    squeezenet    dense
Plain TREC SqueezeNet Runs Bit Exact On The STM32F469I-DISCO            stm32f469i-disco    squeezenet    trec
Space-Efficient TREC SqueezeNet Runs Bit Exact On The STM32F469I-DISCO  stm32f469i-disco    squeezenet    se-trec
Dense SqueezeNet Runs Bit Exact On The NUCLEO-F746ZG                    nucleo-f746zg       squeezenet    dense
Plain TREC SqueezeNet Runs Bit Exact On The NUCLEO-F746ZG               nucleo-f746zg       squeezenet    trec
Space-Efficient TREC SqueezeNet Runs Bit Exact On The NUCLEO-F746ZG     nucleo-f746zg       squeezenet    se-trec

The Profile Command Writes A Bit-Exact Report, Plots, Trace And JSON
    [Template]    NONE
    Run Trecsim    profile    --images    2    --quiet    --out    ${OUTPUT DIR}/profile
    ...            --json    ${OUTPUT DIR}/profile/contract.json
    Command Should Succeed
    Output Should Contain    conv2    speedup    bit-exact    published figure    3.51x
    Profile JSON Should Follow The Contract    ${OUTPUT DIR}/profile/contract.json
    File Should Exist    ${OUTPUT DIR}/profile/report.md
    File Should Exist    ${OUTPUT DIR}/profile/trace.json
    File Should Exist    ${OUTPUT DIR}/profile/cifarnet-stm32f469i-disco-cycles.png

The QEMU Cross-Check Runs The Same Sources Bit Exact On Both Boards And Claims No Cycles
    [Template]    NONE
    Run Trecsim    profile    --emulator    qemu    --board    all    --modes    dense,se-trec    --images    2
    ...            --quiet    --out    ${OUTPUT DIR}/qemu
    Command Should Succeed
    Output Should Contain    emulator qemu    bit-exact    no cycles    n/a    stm32f469i-disco    nucleo-f746zg

The Dense CifarNet Inference Stays Within Its Cycle And Stack Budget
    [Template]    NONE
    Load Board And Model    stm32f469i-disco    cifarnet    dense
    Build Firmware
    Run Image    3
    Wait For Line On Uart    done status 0    timeout=1
    Wait For Line On Uart    layer conv2 cycles \\d+    treatAsRegex=True
    Cycles Should Be Below    60 M
    Cycles Should Be Below    30 M    layer=conv2
    Stack Peak Should Be Below    2 KB
