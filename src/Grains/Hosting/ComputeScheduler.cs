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

    /// <summary>
    /// Runs <paramref name="work"/> on an owned object: the lease is taken now, before the work is queued, and given back
    /// once it has run, so the object cannot be freed in between (see <see cref="Owned{T}"/>).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The object was retired before the work could be queued.</exception>
    public Task<TResult> RunAsync<T, TResult>(Owned<T> owned, Func<T, TResult> work) where T : class, IDisposable
    {
        ArgumentNullException.ThrowIfNull(owned);
        ArgumentNullException.ThrowIfNull(work);
        var lease = owned.Acquire();
        return Queue(() =>
        {
            using (lease)
            {
                return lease.Use(work);
            }
        });
    }

    /// <summary>Runs <paramref name="work"/> on an owned object for its side effects.</summary>
    public Task RunAsync<T>(Owned<T> owned, Action<T> work) where T : class, IDisposable
    {
        ArgumentNullException.ThrowIfNull(work);
        return RunAsync(owned, value =>
        {
            work(value);
            return true;
        });
    }

    /// <summary>
    /// Runs work on two owned objects at once (a model and a session's cache), holding both leases until it has run.
    /// </summary>
    public Task<TResult> RunAsync<T1, T2, TResult>(Owned<T1> first, Owned<T2> second, Func<T1, T2, TResult> work)
        where T1 : class, IDisposable where T2 : class, IDisposable
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        ArgumentNullException.ThrowIfNull(work);
        var firstLease = first.Acquire();
        Owned<T2>.Lease secondLease;
        try
        {
            secondLease = second.Acquire();
        }
        catch
        {
            firstLease.Dispose();
            throw;
        }

        return Queue(() =>
        {
            using (firstLease)
            using (secondLease)
            {
                return firstLease.Use(a => secondLease.Use(b => work(a, b)));
            }
        });
    }

    /// <summary>
    /// Loads libtorch and runs a small forward and backward pass on the workers, so the first stage a new silo takes does
    /// not pay for it inside a step (measured on a joining silo: its first stage initialised 3 s after the others).
    /// </summary>
    public Task WarmUpAsync() => Task.WhenAll(Enumerable.Range(0, _workers.Length).Select(_ => RunAsync(static () =>
    {
        using var scope = torch.NewDisposeScope();
        var weights = torch.randn(64, 64, requires_grad: true);
        var loss = torch.nn.functional.log_softmax(torch.randn(8, 64).matmul(weights), -1).sum();
        loss.backward();
        return weights.grad!.sum().item<float>();
    })));

    /// <summary>Runs work that touches no existing native object: building a new model or worker (hand it to an <see cref="Owned{T}"/>).</summary>
    public Task<T> RunAsync<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Queue(work);
    }

    private Task<T> Queue<T>(Func<T> work)
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
