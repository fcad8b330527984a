namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// The single owner of a native object that compute work uses: a stage worker, a model, a KV cache, an inspector.
/// </summary>
/// <remarks>
/// <para>Who creates it: a compute work item, which hands it to <c>new Owned(...)</c>. Who uses it: work items that
/// hold a lease, taken before the item is queued (<see cref="ComputeScheduler.RunAsync{T, TResult}(Owned{T}, Func{T, TResult})"/>)
/// and given back when it has run. Who frees it: nobody directly. <see cref="Retire"/> says the object is no longer
/// wanted (replaced, reloaded, its grain deactivating); it is disposed when the last lease ends, at once when none is
/// held. So nothing frees it while an operation on it is queued or running, and no operation starts after retirement:
/// a late one fails with <see cref="ObjectDisposedException"/> naming the object instead of reading freed memory.</para>
/// <para>An exclusive object (a stage worker, an inspector: each keeps state between calls) runs one operation at a
/// time even when two compute threads hold leases; a shared one (inference weights, read-only under no_grad) lets them
/// run together.</para>
/// </remarks>
public sealed class Owned<T> where T : class, IDisposable
{
    private readonly T _value;
    private readonly object _gate = new();
    private readonly object? _exclusive;
    private int _leases;
    private bool _retired;
    private bool _disposed;

    public Owned(T value, string name, bool exclusive)
    {
        _value = value ?? throw new ArgumentNullException(nameof(value));
        Name = name ?? throw new ArgumentNullException(nameof(name));
        _exclusive = exclusive ? new object() : null;
    }

    /// <summary>What the object is, for the error a late operation gets ("stage run/0/1's worker").</summary>
    public string Name { get; }

    /// <summary>True once the object has been disposed: retired and every lease ended.</summary>
    public bool IsDisposed
    {
        get
        {
            lock (_gate)
            {
                return _disposed;
            }
        }
    }

    /// <summary>Leases held now (queued or running operations, and synchronous readers).</summary>
    public int Leases
    {
        get
        {
            lock (_gate)
            {
                return _leases;
            }
        }
    }

    /// <summary>A lease: the object stays alive until it is disposed. Use the value only while holding it.</summary>
    /// <exception cref="ObjectDisposedException">The object was retired.</exception>
    public Lease Acquire()
    {
        lock (_gate)
        {
            if (_retired)
            {
                throw new ObjectDisposedException(Name, $"{Name} was replaced or released; the operation that wanted it is out of date.");
            }

            _leases++;
        }

        return new Lease(this);
    }

    /// <summary>No new operation may start; the object is disposed when the last running or queued one ends.</summary>
    public void Retire()
    {
        lock (_gate)
        {
            if (_retired)
            {
                return;
            }

            _retired = true;
            if (_leases > 0)
            {
                return;
            }

            _disposed = true;
        }

        _value.Dispose();
    }

    private void Release()
    {
        lock (_gate)
        {
            _leases--;
            if (!_retired || _leases > 0 || _disposed)
            {
                return;
            }

            _disposed = true;
        }

        _value.Dispose();
    }

    /// <summary>Runs <paramref name="work"/> on the object, one at a time if the object is exclusive. The caller holds a lease.</summary>
    internal TResult Use<TResult>(Func<T, TResult> work)
    {
        if (_exclusive is null)
        {
            return work(_value);
        }

        lock (_exclusive)
        {
            return work(_value);
        }
    }

    /// <summary>A held lease. Dispose it exactly once, after the last use of <see cref="Value"/>.</summary>
    public sealed class Lease : IDisposable
    {
        private Owned<T>? _owner;

        internal Lease(Owned<T> owner) => _owner = owner;

        /// <summary>Runs synchronous work on the object in this thread (an exclusive object waits for a running operation).</summary>
        public TResult Use<TResult>(Func<T, TResult> work) =>
            (_owner ?? throw new ObjectDisposedException(nameof(Lease), "This lease was already given back.")).Use(work);

        public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Release();
    }
}
