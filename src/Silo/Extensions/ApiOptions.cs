namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// What the HTTP API admits (section <c>Api</c>): who may change the cluster, body size, text length and how long a read
/// may wait on the cluster.
/// </summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>
    /// The bearer token API writes need (<c>Authorization: Bearer ...</c>). Required, and checked at start, once the web
    /// port listens beyond loopback; on loopback only it is optional, and once set it is always checked.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>Largest request body, in bytes. A full run spec is under 1 KB and a prompt a few KB: 1 MiB is generous.</summary>
    public long MaxRequestBytes { get; set; } = 1 << 20;

    /// <summary>
    /// Longest free text (a query parameter, a prompt, a stop text), in characters. The models' contexts hold at most a
    /// few hundred tokens (~4 characters each), so 4096 characters fit any prompt a model can take; the grains still
    /// check the prompt's token count against the context.
    /// </summary>
    public int MaxTextLength { get; set; } = 4096;

    /// <summary>
    /// How long a read (status, history, the cluster view, versions) waits for its grain. A healthy call takes
    /// milliseconds; while a lost silo is being declared dead (~6 s) a call to a grain it held would wait for Orleans'
    /// 30 s response timeout instead.
    /// </summary>
    public double ReadTimeoutSeconds { get; set; } = 4;

    /// <summary>The <c>Retry-After</c> of a 503: a second or two is when a recovering cluster is worth asking again.</summary>
    public int RetryAfterSeconds { get; set; } = 2;
}
