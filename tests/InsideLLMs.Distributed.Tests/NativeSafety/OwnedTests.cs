using InsideLLMs.Distributed.Grains.Hosting;

namespace InsideLLMs.Distributed.Tests.NativeSafety;

public sealed class OwnedTests
{
    [Fact]
    public async Task Retire_WhileAnOperationIsQueuedOrRunning_DisposesOnlyAfterItHasRun()
    {
        using var compute = new ComputeScheduler(new ComputeOptions { Workers = 1 });
        var resource = new Resource();
        var owned = new Owned<Resource>(resource, "the test resource", exclusive: true);
        using var running = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();

        var first = compute.RunAsync(owned, r =>
        {
            running.Set();
            release.Wait();
            return r.Use();
        });
        var queued = compute.RunAsync(owned, r => r.Use()); // waits behind the first on the only worker
        running.Wait();
        owned.Retire();

        Assert.False(resource.Disposed);
        Assert.Equal(2, owned.Leases);
        release.Set();
        Assert.Equal(1, await first);
        Assert.Equal(2, await queued);
        Assert.True(resource.Disposed);
        Assert.True(owned.IsDisposed);
    }

    [Fact]
    public async Task RunAsync_AfterRetire_FailsNamingTheObjectAndNeverTouchesIt()
    {
        using var compute = new ComputeScheduler(new ComputeOptions { Workers = 1 });
        var resource = new Resource();
        var owned = new Owned<Resource>(resource, "stage r/0/1's worker", exclusive: true);
        owned.Retire();

        var error = await Assert.ThrowsAsync<ObjectDisposedException>(() => compute.RunAsync(owned, r => r.Use()));

        Assert.Contains("stage r/0/1's worker", error.Message, StringComparison.Ordinal);
        Assert.True(resource.Disposed);
        Assert.Equal(0, resource.Uses);
    }

    [Fact]
    public async Task Exclusive_TwoWorkersWithLeases_RunOneOperationAtATime()
    {
        using var compute = new ComputeScheduler(new ComputeOptions { Workers = 2 });
        var resource = new Resource();
        var owned = new Owned<Resource>(resource, "inspector", exclusive: true);
        var inside = 0;
        var overlapped = false;

        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => compute.RunAsync(owned, r =>
        {
            overlapped |= Interlocked.Increment(ref inside) > 1;
            Thread.Sleep(1);
            Interlocked.Decrement(ref inside);
            return r.Use();
        })));

        Assert.False(overlapped);
        Assert.Equal(40, resource.Uses);
    }

    [Fact]
    public async Task RunAsync_OnTwoObjects_WhenTheSecondIsRetired_GivesTheFirstLeaseBack()
    {
        using var compute = new ComputeScheduler(new ComputeOptions { Workers = 1 });
        var model = new Owned<Resource>(new Resource(), "weights", exclusive: false);
        var cache = new Owned<Resource>(new Resource(), "cache", exclusive: true);
        cache.Retire();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => compute.RunAsync(model, cache, (m, c) => m.Use() + c.Use()));

        Assert.Equal(0, model.Leases);
    }

    private sealed class Resource : IDisposable
    {
        private int _uses;

        public bool Disposed { get; private set; }

        public int Uses => _uses;

        public int Use()
        {
            ObjectDisposedException.ThrowIf(Disposed, this);
            return Interlocked.Increment(ref _uses);
        }

        public void Dispose() => Disposed = true;
    }
}
