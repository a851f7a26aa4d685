*** Settings ***
Documentation     CIFAR-10 is checked against the official checksums, and a damaged
...               copy is named and explained, never silently used.
Resource          trecsim.resource
Suite Teardown    Remove Scratch Copies

*** Test Cases ***
The Shared CIFAR-10 Copy Verifies Against The Official Checksums
    ${data}=    Reference Dataset
    Run Trecsim    data    verify    --data    ${data}    --quiet
    Command Should Succeed
    Output Should Contain    ok    test_batch.bin    data_batch_5.bin

A Copy With One Flipped Byte Fails Naming The File
    ${data}=    Reference Dataset
    ${bad}=     Copy Dataset With One Flipped Byte    ${data}    data_batch_3.bin
    Run Trecsim    data    verify    --data    ${bad}    --quiet
    Command Should Fail With Message    data_batch_3.bin    corrupted    python -m trecsim data download

A Truncated Copy Fails Saying How Much Is Missing
    ${data}=    Reference Dataset
    ${bad}=     Copy Dataset With Truncated File    ${data}    test_batch.bin    keep_bytes=1000000
    Run Trecsim    data    verify    --data    ${bad}    --quiet
    Command Should Fail With Message    test_batch.bin    truncated    1000000

A Missing Dataset Folder Explains Where Trecsim Looked And How To Download
    Run Trecsim    data    verify    --data    /nonexistent/cifar    --quiet
    Command Should Fail With Message    /nonexistent/cifar    python -m trecsim data download

The Bundled Sample Needs No Dataset
    Run Trecsim    data    info    --data    /nonexistent/cifar
    Command Should Succeed
    Output Should Contain    bundled sample: 300 test images    airplane 30    truck 30
