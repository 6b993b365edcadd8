import { describe, expect, it } from 'vitest';
import { compareRoutes, compileRoute, matchRoute } from '../../../local/host/routeTemplate';

const m = (template: string, path: string) => matchRoute(compileRoute(template), path);

describe('route templates', () => {
  it('matches parameters, optionals, defaults, catch-alls and mixed segments', () => {
    expect(m('machines/{id}/disks/{diskId}', 'machines/m1/disks/d%2F2')).toEqual({
      id: 'm1',
      diskId: 'd/2',
    });
    expect(m('machines/{id}', 'Machines/m1/')).toEqual({ id: 'm1' });
    expect(m('machines/{id}', 'machines')).toBeUndefined();
    expect(m('items/{id?}', 'items')).toEqual({});
    expect(m('items/{page=1}', 'items')).toEqual({ page: '1' });
    expect(m('files/{*rest}', 'files')).toEqual({});
    expect(m('files/{**rest}', 'files/a/b')).toEqual({ rest: 'a/b' });
    expect(m('img/{name}.{ext}', 'img/cat.png')).toEqual({ name: 'cat', ext: 'png' });
  });

  it('checks common constraints and ignores unknown ones without crashing', () => {
    expect(m('n/{id:int}', 'n/-12')).toEqual({ id: '-12' });
    expect(m('n/{id:int}', 'n/x')).toBeUndefined();
    expect(m('n/{id:int:min(1)}', 'n/5')).toEqual({ id: '5' });
    expect(m('g/{id:guid}', 'g/6f9619ff-8b86-d011-b42d-00c04fc964ff')).toBeDefined();
    expect(m('b/{v:bool}', 'b/maybe')).toBeUndefined();
    expect(m('l/{v:maxlength(3)}', 'l/abcd')).toBeUndefined();
    expect(m('r/{v:regex(^a+$)}', 'r/aaa')).toEqual({ v: 'aaa' });
    expect(m('r/{v:regex([)}', 'r/x')).toEqual({ v: 'x' }); // invalid pattern: ignored
    expect(m('w/{v:weird(1,2)}', 'w/x')).toEqual({ v: 'x' });
    expect(() => compileRoute('bad/{unclosed')).not.toThrow();
  });

  it('orders literals before parameters before catch-alls', () => {
    const routes = ['{*all}', 'a/{id}', 'a/{id:int}', 'a/b'].map(compileRoute).sort(compareRoutes);
    expect(routes.map((r) => r.template)).toEqual(['a/b', 'a/{id:int}', 'a/{id}', '{*all}']);
  });
});
