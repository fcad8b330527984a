using System.Collections.Concurrent;
using TorchSharp;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// Dedicated threads for tensor work. A grain awaits <see cref="RunAsync{T}"/>; the work runs synchronously on a
/// worker (so a TorchSharp dispose scope, which is thread-static, stays on one thread), and the grain resumes on its
/// own scheduler afterwards. libtorch's thread count is per calling thread, so each worker sets it once.
/// </summary>
public sealed class ComputeScheduler : IDisposable
{
    private readonly BlockingCollection<Action> _queue = new();
    private readonly Thread[] _workers;

    public ComputeScheduler(ComputeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Workers < 1 || options.TorchThreadsPerWorker < 1)
        {
            throw new ArgumentException($"Compute needs at least one worker with one thread; got {options.Workers} workers x {options.TorchThreadsPerWorker} threads.");
        }

        if (!(options.MessageTimeoutSeconds > 0))
        {
            throw new ArgumentException($"Compute:MessageTimeoutSeconds must be positive; got {options.MessageTimeoutSeconds}.");
        }

        Options = options;
        _workers = [.. Enumerable.Range(0, options.Workers).Select(i => new Thread(() => Work(options.TorchThreadsPerWorker))
        {
            IsBackground = true,
            Name = $"compute-{i}",
        })];
        foreach (var worker in _workers)
        {
            worker.Start();
        }
    }

    public ComputeOptions Options { get; }

    public Task<T> RunAsync<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        // Continuations must not run on the worker: the awaiting grain resumes on its own scheduler.
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Add(() =>
        {
            try
            {
                completion.SetResult(work());
            }
            catch (Exception e)
            {
                completion.SetException(e);
            }
        });
        return completion.Task;
    }

    public Task RunAsync(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        return RunAsync(() =>
        {
            work();
            return true;
        });
    }

    private void Work(int torchThreads)
    {
        torch.set_num_threads(torchThreads);
        foreach (var item in _queue.GetConsumingEnumerable())
        {
            item();
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        foreach (var worker in _workers)
        {
            worker.Join(TimeSpan.FromSeconds(5));
        }

        _queue.Dispose();
    }
}
