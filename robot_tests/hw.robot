*** Settings ***
Documentation     The same firmware on a real board: flashed through the ST-LINK with pyocd, driven by the
...               host protocol over SWD, measured with DWT on hardware and set beside the cycle model.
...               The flow itself runs everywhere through the emulator behind the probe interface; the
...               tests on real boards skip with what to connect unless TRECSIM_HW_BOARD names the board
...               (platforms/README.md, "Real boards").
Resource          trecsim.resource
Test Teardown     Disconnect Probe

*** Test Cases ***
The Hardware Flow Runs Bit Exact Through The Probe Interface On The Emulator
    Load Board And Model    stm32f469i-disco    cifarnet    dense
    Build Firmware
    Connect Probe    emulator
    Run Image    1
    Outputs Should Match Golden
    Wait For Line On Uart    done status 0
    Measured Cycles Should Be Within    0 %

The Dense CifarNet Runs Bit Exact On A Real STM32F469I-DISCO
    Real Board Should Be Connected    stm32f469i-disco
    Load Board And Model    stm32f469i-disco    cifarnet    dense
    Build Firmware
    Connect Probe
    Run Image    0
    Outputs Should Match Golden
    Measured Cycles Should Be Within    50 %

The Dense CifarNet Runs Bit Exact On A Real NUCLEO-F746ZG
    Real Board Should Be Connected    nucleo-f746zg
    Load Board And Model    nucleo-f746zg    cifarnet    dense
    Build Firmware
    Connect Probe
    Run Image    0
    Outputs Should Match Golden
    Measured Cycles Should Be Within    50 %

The Profile Command Measures A Real Board With DWT Beside The Model
    Real Board Should Be Connected    %{TRECSIM_HW_BOARD=stm32f469i-disco}
    Run Trecsim    profile    --target    hw    --board    %{TRECSIM_HW_BOARD=stm32f469i-disco}
    ...            --images    2    --quiet    --out    ${OUTPUT DIR}/profile-hw
    Command Should Succeed
    Output Should Contain    DWT on hardware    model estimate    measured / model    bit-exact
