*** Settings ***
Documentation     Bad input and broken firmware are reported in one paragraph that says what, where
...               and how to fix it: no traceback, no silent fallback.
Resource          trecsim.resource

*** Test Cases ***
Profiling An Unknown Board Is Refused With The List Of Valid Names
    Run Trecsim    profile    --board    stm32f407-disco    --quiet
    Command Should Fail With Message    stm32f407-disco    stm32f469i-disco    nucleo-f746zg

Profiling A Model That Is Not Trained Yet Lists The Committed Models
    Use Only These Trained Models    cifarnet-dense
    Run Trecsim    profile    --model    zfnet    --quiet
    Command Should Fail With Message    zfnet    not trained yet    cifarnet-dense
    [Teardown]    Use The Committed Trained Models

Profiling An Uncommitted Mode Asked For Explicitly Is Refused
    Use Only These Trained Models    cifarnet-dense
    Run Trecsim    profile    --model    cifarnet    --modes    se-trec    --quiet
    Command Should Fail With Message    cifarnet-se-trec    cifarnet-dense
    [Teardown]    Use The Committed Trained Models

Profiling On Renode Where Renode Is Not Installed Says How To Install It
    Run Trecsim    profile    --emulator    renode    --quiet
    Command Should Fail With Message    --emulator renode    pip install 'trecsim[renode]'    PYRENODE_PKG

Zero Images Are Refused
    Run Trecsim    profile    --images    0    --quiet
    Command Should Fail With Message    --images

A Firmware That Executes An Undefined Instruction Is Reported As A Usage Fault With Its Function
    Load Board And Model    stm32f469i-disco    cifarnet    dense
    Inject Undefined Instruction At    convolve_s8
    Firmware Fault Should Be Reported    UsageFault    UNDEFINSTR    convolve_s8

A Firmware That Never Ends Is Stopped By The Instruction Budget
    Load Board And Model    nucleo-f746zg    cifarnet    dense
    Limit Instructions To    1000000
    Firmware Fault Should Be Reported    instruction budget    1000000 instructions
