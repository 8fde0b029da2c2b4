from workers.runtime.torch_threads import torch_threads_for


def test_each_pool_process_gets_its_share_of_the_cores() -> None:
    assert torch_threads_for(16, 2, None) == 8
    assert torch_threads_for(2, 2, None) == 1
    assert torch_threads_for(2, 4, None) == 1
    assert torch_threads_for(16, 2, "3") == 3
